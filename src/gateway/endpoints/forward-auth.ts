// GET /.auth/verify: forward-auth (docs/forward-auth.md). A proxy of the operator's (nginx,
// Traefik, Caddy, Envoy) carries a forward-auth app's requests and asks SignOnce, before each,
// whether it may pass and with which headers. The answer is the one proxy mode would give
// (to-app.ts admission: sessions, excludedPaths, unauthenticatedAction, access rules, refresh
// ahead, the signed-in cache), without any body ever passing through SignOnce.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../../config/index.ts';
import { identityHeaderNames } from '../../session/principal.ts';
import type { GatewayContext } from '../context.ts';
import { sendError } from '../errors.ts';
import { originalRequestOf } from '../rules/forward-auth.ts';
import { withoutCookies } from '../rules/identity-headers.ts';
import { admission, answerRefusal } from '../to-app.ts';

const headerNames = new WeakMap<AppConfig, readonly string[]>();
/** Every identity header an app may receive, worked out once per app. */
function headerNamesOf(ctx: GatewayContext, app: AppConfig): readonly string[] {
  let names = headerNames.get(app);
  if (!names) {
    names = identityHeaderNames(app.resources, [...ctx.providers.keys()]);
    headerNames.set(app, names);
  }
  return names;
}

/**
 * The answer to a verify request. 200: the app's identity and token headers, and
 * `X-SignOnce-Cookie`, the Cookie header the app should get (the client's without SignOnce's
 * cookies), for the proxy to copy onto the request. Else the refusal proxy mode would answer
 * (401, a sign-in redirect, 403), shaped for the asking proxy (answerRefusal).
 */
export async function verify(ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply) {
  reply.header('cache-control', 'no-store');
  // Whoever may write these headers chooses the app and path checked: a trusted proxy only.
  if (!ctx.fromTrustedProxy(request.raw.socket.remoteAddress ?? '')) {
    request.log.warn('a /.auth/verify request came from an address not in trustedProxies: refused');
    return sendError(reply, 403, {
      error: 'forward-auth verification answers only the proxies listed in trustedProxies',
    });
  }
  const original = originalRequestOf({ path: request.url, method: request.method, rawHeaders: request.raw.rawHeaders });
  if ('problem' in original) {
    request.log.warn({ problem: original.problem }, 'a /.auth/verify request did not describe one original request');
    return sendError(reply, 400, { error: 'the original request is not described', reason: original.problem });
  }
  const target = ctx.hostOf(original.host);
  if (target.kind !== 'app' || target.app.mode !== 'forwardAuth')
    return sendError(reply, 404, {
      error: `no forward-auth app has the host ${JSON.stringify(original.host)}`,
      reason: 'give the app mode: forwardAuth (or no upstream), and send its host in X-Forwarded-Host or Host',
    });
  const app = target.app;
  const admitted = await admission(ctx, request, app, target.host, original);
  if ('refused' in admitted)
    return answerRefusal(ctx, request, reply, app, target.host, original, admitted.refused, original.redirects);
  // Every header the app may get, empty when it has no value: proxies that copy headers by name
  // then replace what a client sent with nothing, whatever they do with a header missing from the
  // answer (Caddy 2.6 writes its placeholder's name, caddyserver/caddy#6610; 2.10 kept the client's).
  for (const name of headerNamesOf(ctx, app)) reply.header(name, '');
  for (const [name, value] of admitted.admitted?.identityHeaders ?? []) reply.header(name, value);
  const cookie = request.headers.cookie && withoutCookies(request.headers.cookie, ctx.ownCookies);
  reply.header('x-signonce-cookie', cookie || '');
  return reply.code(200).send();
}
