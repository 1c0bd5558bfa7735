// Probes: /healthz says the process serves requests; /readyz says it can do its work, which
// needs the store. A load balancer takes an instance out of rotation on 503 and back on 200.
// They are answered on the auth host and on hosts that are no app's (an app's own /healthz is
// the app's).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Store } from '../../store/index.ts';

/** How long the store may take to answer before the instance is reported not ready. */
const READY_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const noStore = { 'cache-control': 'no-store' };

export function healthz(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.headers(noStore).send({ status: 'ok' });
}

export async function readyz(store: Store, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  try {
    await withTimeout(store.ping(), READY_TIMEOUT_MS);
    return reply.headers(noStore).send({ status: 'ready' });
  } catch (error) {
    request.log.warn({ err: error, store: store.kind }, 'not ready: the store does not answer');
    return reply
      .code(503)
      .headers(noStore)
      .send({ status: 'unavailable', reason: `the ${store.kind} store does not answer` });
  }
}
