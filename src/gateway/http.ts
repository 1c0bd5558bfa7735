// Small request and reply helpers every route module uses.
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PageScript } from './page-scripts.ts';
import { pageHeaders } from './pages.ts';

/**
 * More than one Host field: answered 400 (RFC 9112 section 3.2), since Node keeps the first and an
 * upstream might read another.
 */
export const manyHosts = (rawHeaders: readonly string[]) =>
  rawHeaders.filter((name, i) => i % 2 === 0 && name.toLowerCase() === 'host').length > 1;

/** The request path without its query string. */
export const pathOf = (url: string) => url.split('?', 1)[0]!;

/** A browser's navigation (a page load), as opposed to a script's or an API client's request. */
export const isNavigation = (request: FastifyRequest) =>
  request.headers['sec-fetch-mode'] === 'navigate' ||
  (!request.headers['sec-fetch-mode'] && /text\/html/.test(request.headers.accept ?? ''));

/** A query parameter (the first, when repeated). */
export const queryParam = (request: FastifyRequest, name: string): string | undefined => {
  const value = (request.query as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : value;
};

/** One of SignOnce's HTML pages, with its security headers (`scripts`: those the page loads, pages.ts pageHeaders). */
export const page = (
  reply: FastifyReply,
  status: number,
  html: string,
  formTargets?: readonly string[],
  scripts?: readonly PageScript[],
) => reply.code(status).headers(pageHeaders(formTargets, scripts)).send(html);

/** A redirect no cache keeps (they carry single-use codes and per-user targets). */
export const redirect = (reply: FastifyReply, location: string) =>
  reply.code(302).header('cache-control', 'no-store').redirect(location);

/** A request body of at most `limit` bytes; undefined (and the rest left unread) when larger. */
export async function readBody(incoming: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (Number(incoming.headers['content-length'] ?? 0) > limit) return undefined;
  for await (const chunk of incoming.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A JSON object body of at most `limit` bytes; undefined when it is missing, too large, not JSON or not an object. */
export async function readJsonObject(
  incoming: IncomingMessage,
  limit: number,
): Promise<Record<string, unknown> | undefined> {
  const body = await readBody(incoming, limit);
  try {
    const parsed: unknown = body && JSON.parse(body.toString('utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
