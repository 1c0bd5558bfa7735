// Endpoints of authentication tokens: POST /.auth/exchange on app hosts; the keys and discovery
// document on the auth host (RFC 7517; OpenID Connect Discovery 1.0); and the refusal every route
// answers when a presented token is not accepted.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../../config/index.ts';
import { credentialOf, sessionOfToken } from '../../session/credentials.ts';
import type { GatewayContext } from '../context.ts';
import { invalidToken, sendError } from '../errors.ts';
import { readJsonObject } from '../http.ts';

const EXCHANGE_LIMIT_BYTES = 4096;

export function tokenRoutes(ctx: GatewayContext) {
  const { config, authenticationTokens, appsById, authUrl } = ctx;

  /** GET /.well-known/jwks.json: the public keys tokens may be verified with now. */
  async function keySet(request: FastifyRequest, reply: FastifyReply) {
    // A key just added by `keys rotate-signing` is published before any instance signs with it.
    await authenticationTokens
      .reloadIfStale()
      .catch((error: unknown) =>
        request.log.warn({ err: error }, 'could not reload the signing keys; publishing the ones loaded'),
      );
    return reply.header('cache-control', 'public, max-age=300').send(authenticationTokens.jwks());
  }

  /** GET /.well-known/openid-configuration: where the keys are, under which issuer. */
  const discovery = (reply: FastifyReply) =>
    reply
      .header('cache-control', 'public, max-age=300')
      .send({ issuer: config.publicUrl, jwks_uri: authUrl('/.well-known/jwks.json') });

  /**
   * POST /.auth/exchange {"audience": "app2"} with an authentication token: a token for app2 for the
   * same session, when app2 trusts the app the token was issued for (its `acceptTokensFrom`). Only
   * a token is accepted here, never the cookie: no page of another site can have tokens minted.
   */
  async function exchange(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig) {
    const credential = credentialOf(request.headers, config.session.cookieName);
    if (!credential || !('token' in credential))
      return invalidToken(reply, appConfig, 'no authentication token presented');
    const audience = (await readJsonObject(request.raw, EXCHANGE_LIMIT_BYTES))?.audience;
    const target = typeof audience === 'string' ? appsById.get(audience) : undefined;
    if (!target)
      return sendError(reply, 400, { error: 'the body must be {"audience": "<app id>"} naming a configured app' });
    const found = await sessionOfToken(ctx, credential.token, appConfig);
    if ('refused' in found) return invalidToken(reply, appConfig, found.refused);
    const { claims, session } = found;
    if (target.id !== claims.aud && !target.acceptTokensFrom.includes(claims.aud)) {
      return sendError(reply, 403, {
        error: `app "${target.id}" does not accept tokens of app "${claims.aud}" (acceptTokensFrom)`,
      });
    }
    const authenticationToken = await authenticationTokens.issue(session, target.id, claims.idp);
    return reply.header('cache-control', 'no-store').send({ authenticationToken });
  }

  return { exchange, keySet, discovery };
}
