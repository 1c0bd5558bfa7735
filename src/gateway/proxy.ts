// The reverse proxy to an app's upstream: undici keep-alive pools, bodies streamed both ways,
// hop-by-hop headers dropped (RFC 9110 section 7.6.1), identity headers only from SignOnce.
import type { IncomingMessage } from 'node:http';
import { Agent, request as undiciRequest } from 'undici';
import type { FastifyReply } from 'fastify';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

/** Drops hop-by-hop headers, including any the Connection header names. */
export function endToEnd(headers: ReadonlyArray<[string, string]>): Array<[string, string]> {
  const named = new Set(headers.filter(([name]) => name.toLowerCase() === 'connection')
    .flatMap(([, value]) => value.split(',').map((token) => token.trim().toLowerCase())));
  return headers.filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase()) && !named.has(name.toLowerCase()));
}

export class UpstreamProxy {
  readonly #agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });

  /**
   * Forwards `incoming` to `upstream` with `headers` (already cleaned and completed by the caller)
   * and streams the answer back. `timeoutMs` bounds the wait for the answer's headers and each
   * pause in its body, never a long but moving transfer. Says why when the upstream could not
   * answer (the caller shows 502/504).
   */
  async forward(upstream: string, incoming: IncomingMessage, headers: Array<[string, string]>, reply: FastifyReply, timeoutMs: number): Promise<'ok' | 'unreachable' | 'timeout'> {
    const hasBody = incoming.headers['content-length'] !== undefined && incoming.headers['content-length'] !== '0'
      || incoming.headers['transfer-encoding'] !== undefined;
    try {
      const response = await undiciRequest(new URL(incoming.url ?? '/', upstream), {
        dispatcher: this.#agent,
        method: incoming.method as 'GET',
        headers: endToEnd(headers).flat(),
        body: hasBody ? incoming : null,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const responseHeaders: Array<[string, string]> = [];
      for (const [name, value] of Object.entries(response.headers)) {
        for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined) responseHeaders.push([name, item]);
      }
      const kept = endToEnd(responseHeaders);
      const cookies = kept.filter(([name]) => name === 'set-cookie').map(([, value]) => value);
      reply.code(response.statusCode);
      for (const [name, value] of kept) if (name !== 'set-cookie') reply.header(name, value);
      if (cookies.length) reply.header('set-cookie', cookies);
      reply.send(response.body);
      return 'ok';
    } catch (error) {
      const code = (error as { code?: string }).code;
      return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : 'unreachable';
    }
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
