// GET /.auth/refresh on app hosts (Easy Auth's): refresh the signed-in user's provider tokens in
// the store, once however many ask at the same moment (src/refresh). Called with an
// authentication token, it also renews the token's session and answers a new token for it; that
// token may have expired up to session.tokenRefreshExtensionHours ago (Easy Auth's refresh grace:
// a native app back after a night still gets in, as long as the provider still refreshes).
// GET /.auth/token?resource={alias}: the signed-in user's token for one of the app's resources.
// GET /.auth/token on the auth host: an OpenID client's way to its user's provider token.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../../config/index.ts';
import { RefreshError, unlessRefreshedSince } from '../../refresh/refresher.ts';
import type { StoredTokens } from '../../store/index.ts';
import type { GatewayContext } from '../context.ts';
import { queryParam } from '../http.ts';
import { refusedAtEndpoint } from '../access.ts';
import { errorAnswer, invalidToken, notSignedIn, sendAnswer, sendError, tooManyRequests } from '../errors.ts';
import type { Identified } from '../../session/signed-in.ts';
import type { ClientGrant } from './openid-provider.ts';
import { DPOP_ALGORITHMS } from '../../openid-provider/dpop.ts';

/** `{"access_token", "expires_on"}` of stored tokens. */
const tokenAnswer = ({ tokens }: StoredTokens) => ({
  access_token: tokens.accessToken,
  ...(tokens.expiresAt === undefined ? {} : { expires_on: new Date(tokens.expiresAt).toISOString() }),
});

export function refreshRoutes(ctx: GatewayContext) {
  const { config, store, providers, signedIn, refresher, authenticationTokens, rateLimits } = ctx;
  const graceMs = config.session.tokenRefreshExtensionHours * 3_600_000;

  /**
   * Undefined when `accountId` may ask now; else the 429 sent: the account's callers flooded
   * (`rateLimits.refresh.perAccount`, whichever app, client or address they ask from). Only a
   * flood guard: what providers are spared is limited per grant in the refresher.
   */
  function callerFlood(reply: FastifyReply, accountId: string): FastifyReply | undefined {
    const wait = rateLimits.refreshPerAccount.take(accountId);
    if (wait === 0) return undefined;
    ctx.metrics.rateLimited.inc({ limit: 'refresh-per-account' });
    return tooManyRequests(reply, wait);
  }

  /** The signed-in caller, or the reply already sent: 401 when there is none, 429 (callerFlood). */
  async function signedInCaller(
    request: FastifyRequest,
    reply: FastifyReply,
    appConfig: AppConfig,
    host: string,
    expiredGraceMs = 0,
  ): Promise<Identified | FastifyReply> {
    const current = await signedIn.identify(request, appConfig, host, expiredGraceMs);
    if (current && 'refused' in current) return invalidToken(reply, appConfig, current.refused);
    if (!current) return notSignedIn(reply);
    return (
      callerFlood(reply, current.session.accountId) ??
      (await refusedAtEndpoint(ctx, request, reply, current, appConfig)) ??
      current
    );
  }

  /**
   * A refresh that failed, answered (errors.ts) and logged. Over the grant limit (429 with
   * Retry-After), counted as other rate limits are rather than logged.
   */
  function refreshFailed(
    request: FastifyRequest,
    reply: FastifyReply,
    error: RefreshError,
    provider: string,
    accountId: string,
  ) {
    if (error.failure === 'limited') ctx.metrics.rateLimited.inc({ limit: 'refresh-provider-grants' });
    else
      request.log.warn(
        { provider, account: accountId, failure: error.failure, reason: error.message },
        'token refresh failed',
      );
    return sendAnswer(request, reply, errorAnswer(error));
  }

  async function refresh(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string) {
    const current = await signedInCaller(request, reply, appConfig, host, graceMs);
    if (!('session' in current)) return current;
    const { session, user } = current;
    const provider = providers.get(user.provider);
    const ref = { accountId: session.accountId, provider: user.provider, resource: '' };
    // What the store holds now (not a cached view): the refresh happens only if it is still this.
    const seen = (await store.getTokens(ref))?.tokens.accessToken;
    try {
      if (!provider) throw new RefreshError('no-refresh-token', `provider "${user.provider}" is no longer configured`);
      await refresher.refresh(ref, provider, unlessRefreshedSince(seen));
    } catch (error) {
      if (!(error instanceof RefreshError)) throw error;
      return refreshFailed(request, reply, error, user.provider, session.accountId);
    }
    reply.header('cache-control', 'no-store');
    if (!current.byToken) return reply.send({});
    // The provider has just vouched for the user again: the session lives on from now.
    const renewed = await store.renewSession(session.ref, config.session.lifetime, graceMs);
    if (!renewed) return invalidToken(reply, appConfig, 'session-ended');
    const authenticationToken = await authenticationTokens.issue(renewed, appConfig.id, user.provider);
    return reply.send({ authenticationToken });
  }

  /** GET /.auth/token?resource={alias}: `{"access_token", "expires_on"}`, only for resources the app declares. */
  async function resourceToken(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string) {
    const current = await signedInCaller(request, reply, appConfig, host);
    if (!('session' in current)) return current;
    const alias = queryParam(request, 'resource');
    const resource = appConfig.resources.find((r) => r.alias === alias);
    if (!resource) {
      const declared = appConfig.resources.map((r) => r.alias).join(', ') || 'none';
      return sendError(
        reply,
        400,
        {
          error: `${alias === undefined ? 'the resource parameter is missing' : `"${alias}" is not a resource of this app`} (declared: ${declared})`,
        },
        { 'cache-control': 'no-store' },
      );
    }
    const { accountId } = current.session;
    let stored;
    try {
      stored = await ctx.freshTokens.resourceToken(accountId, resource);
    } catch (error) {
      if (!(error instanceof RefreshError)) throw error;
      return refreshFailed(request, reply, error, resource.provider, accountId);
    }
    return reply.header('cache-control', 'no-store').send(tokenAnswer(stored));
  }

  /**
   * GET /.auth/token[?provider=ID] on the auth host, with an access token SignOnce's OpenID
   * Provider issued (Bearer, or DPoP with a proof when it is DPoP-bound) for the `provider_tokens` scope: the user's provider access token,
   * refreshed first when it is about to expire — SignOnce stays the only refresher.
   */
  async function clientProviderToken(
    request: FastifyRequest,
    reply: FastifyReply,
    grantOf: (request: FastifyRequest) => Promise<ClientGrant>,
  ) {
    const realm = `realm="${ctx.publicUrl.host}"`;
    const grant = await grantOf(request);
    // RFC 6750 section 3.1 invalid_token (401) or insufficient_scope (403); RFC 9449 section 7.1
    // invalid_dpop_proof, with both schemes' challenges (the token's binding says which applies).
    if ('refused' in grant) {
      const bearerError = grant.refused === 'invalid_token' ? `, error="invalid_token"` : '';
      return sendError(
        reply,
        401,
        { error: grant.refused, ...(grant.reason ? { error_description: grant.reason } : {}) },
        {
          'www-authenticate': [
            `Bearer ${realm}${bearerError}`,
            `DPoP ${realm}, error="${grant.refused}", algs="${DPOP_ALGORITHMS.join(' ')}"`,
          ],
          'cache-control': 'no-store',
        },
      );
    }
    if (!grant.scopes.has('provider_tokens'))
      return sendError(
        reply,
        403,
        { error: 'insufficient_scope' },
        { 'www-authenticate': `Bearer ${realm}, error="insufficient_scope", scope="provider_tokens"` },
      );
    const flooded = callerFlood(reply, grant.accountId);
    if (flooded) return flooded;
    const identities = await store.listIdentities(grant.accountId);
    const providerId =
      queryParam(request, 'provider') ??
      identities.find((i) => providers.get(i.provider)?.refresh)?.provider ??
      identities[0]?.provider;
    if (!providerId || !identities.some((i) => i.provider === providerId)) {
      return sendError(reply, 404, {
        error: `no ${providerId ? `"${providerId}" ` : ''}identity is linked to this account`,
        linked: identities.map((i) => i.provider).filter((p) => providers.has(p)),
      });
    }
    let stored;
    try {
      stored = await ctx.freshTokens.of(grant.accountId, providerId);
    } catch (error) {
      if (!(error instanceof RefreshError)) throw error;
      return refreshFailed(request, reply, error, providerId, grant.accountId);
    }
    return reply.header('cache-control', 'no-store').send({ provider: providerId, ...tokenAnswer(stored) });
  }

  return { refresh, resourceToken, clientProviderToken };
}
