// The reverse proxy to an app's upstream: undici keep-alive pools, bodies streamed both ways,
// hop-by-hop headers dropped (RFC 9110 section 7.6.1), identity headers only from SignOnce.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent } from 'undici';
import type { FastifyReply } from 'fastify';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Drops hop-by-hop headers, including any the Connection header names. */
export function endToEnd(headers: ReadonlyArray<[string, string]>): Array<[string, string]> {
  const named = new Set(
    headers
      .filter(([name]) => name.toLowerCase() === 'connection')
      .flatMap(([, value]) => value.split(',').map((token) => token.trim().toLowerCase())),
  );
  return headers.filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase()) && !named.has(name.toLowerCase()));
}

/**
 * The origin-form ("/path?query") of a request target, as a proxy must send it to an origin server
 * (RFC 9112 section 3.2.1). A client may send the absolute form ("http://other-host/path"): the
 * gateway decided by the Host header, so the app must not be handed another host to serve.
 */
export function originForm(target: string): string {
  if (target.startsWith('/') || target === '*') return target;
  if (!URL.canParse(target)) return '/';
  const url = new URL(target);
  return `${url.pathname}${url.search}`;
}

/** Pairs from a flat [name, value, name, value, …] list, as undici and Node give raw headers. */
const pairs = (flat: readonly string[]): Array<[string, string]> => {
  const result: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) result.push([flat[i]!, flat[i + 1]!]);
  return result;
};

export class UpstreamProxy {
  readonly #agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
  #stopping = false;

  /**
   * Forwards `incoming` to `upstream` with `headers` (cleaned of hop-by-hop and identity headers
   * and completed by the caller) and streams the answer straight into the client's response.
   * `timeoutMs` bounds the wait for the answer's headers and each pause in its body, never a long
   * but moving transfer. Says why when the upstream could not answer (the caller shows 502/504),
   * or that the answer ended early after it had begun: the client left, or the upstream broke off
   * (undici reports both as the response closing early; the client's connection is closed then).
   */
  async forward(
    upstream: string,
    incoming: IncomingMessage,
    headers: Array<[string, string]>,
    reply: FastifyReply,
    timeoutMs: number,
  ): Promise<'ok' | 'unreachable' | 'timeout' | 'interrupted'> {
    const hasBody =
      (incoming.headers['content-length'] !== undefined && incoming.headers['content-length'] !== '0') ||
      incoming.headers['transfer-encoding'] !== undefined;
    try {
      await this.#agent.stream(
        {
          origin: upstream,
          path: originForm(incoming.url ?? '/'),
          method: incoming.method as 'GET',
          headers: headers.flat(),
          body: hasBody ? incoming : null,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
          responseHeaders: 'raw',
        },
        ({ statusCode, headers: raw }) => {
          // The answer is written by Node's response directly: Fastify steps aside from here on.
          reply.hijack();
          const response: ServerResponse = reply.raw;
          const kept = endToEnd(pairs(raw as unknown as string[]));
          if (this.#stopping) kept.push(['connection', 'close']);
          response.writeHead(statusCode, kept.flat());
          return response;
        },
      );
      return 'ok';
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (reply.sent) return 'interrupted';
      return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : 'unreachable';
    }
  }

  /** From now on, answers close their connections (so keep-alive clients let the stop finish). */
  stopping(): void {
    this.#stopping = true;
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
