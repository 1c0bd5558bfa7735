// POST /.auth/external/{issuer id} on app hosts: an identity token minted by a configured external
// issuer (src/accounts/external-issuers.ts), exchanged for an authentication token of the account
// it is linked to. The first time, the token is not linked: the caller proves which local account
// it belongs to — the user's local credentials in the same request, or a signed-in session — and
// the link is stored (under a keyed hash of issuer and subject). Wrong credentials never link.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig, ExternalIssuerConfig } from '../../config/index.ts';
import {
  ExternalTokenRefused,
  IssuerUnavailable,
  externalSubjectKey,
  issuerKeys,
  subjectOf,
  verifyExternalToken,
} from '../../accounts/external-issuers.ts';
import { passwordProviderNamed } from '../../providers/index.ts';
import type { SignedInIdentity } from '../../session/principal.ts';
import { IdentityConflictError } from '../../store/index.ts';
import { recordAudit, signInHappened } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { crossOrigin } from '../rules/cross-origin.ts';
import { readJsonObject } from '../http.ts';
import { errorAnswer, sendAnswer, sendError } from '../errors.ts';

const BODY_LIMIT_BYTES = 64 * 1024;
const SUBJECT_KEY_SECRET = 'external-subjects';

/** The identities of an external issuer: a provider name no configured provider can have (ids have no ':'). */
const identityProvider = (issuer: ExternalIssuerConfig) => `external:${issuer.id}`;

export function externalRoutes(ctx: GatewayContext) {
  const { config, store, providers, signedIn, authenticationTokens, log } = ctx;
  const keys = new Map(config.externalIssuers.map((issuer) => [issuer.id, issuerKeys(issuer)]));
  let secret: Promise<Buffer> | undefined;

  /** Who the account is to apps: the first of its identities a provider described (a linked local user), else the external one. */
  async function userOf(accountId: string, external: SignedInIdentity): Promise<SignedInIdentity> {
    const described = await ctx.accounts.described(accountId);
    return described
      ? {
          provider: described.identity.provider,
          subject: described.identity.subject,
          name: described.profile.name,
          claims: described.profile.claims,
        }
      : external;
  }

  /**
   * The account an unlinked token is to join, proved by local credentials in the body or by the
   * request's session; or the reply already sent.
   */
  async function provenAccount(
    request: FastifyRequest,
    reply: FastifyReply,
    appConfig: AppConfig,
    host: string,
    body: Record<string, unknown>,
  ): Promise<string | FastifyReply> {
    if (typeof body.username === 'string' && typeof body.password === 'string') {
      const provider = passwordProviderNamed(
        [...providers.values()],
        typeof body.provider === 'string' ? body.provider : undefined,
      );
      if (typeof provider === 'string')
        return sendError(reply, 400, { error: 'invalid_request', reason: `"provider": ${provider}` });
      const outcome = await ctx.localAccounts.signIn(
        provider.id,
        body.username,
        body.password,
        ctx.clientAddressOf(request.raw),
      );
      if (outcome.ok) return outcome.accountId;
      if (outcome.reason === 'throttled') {
        const seconds = Math.ceil(outcome.retryAfterMs / 1000);
        return sendError(
          reply,
          429,
          { error: 'throttled', reason: `too many failed attempts: try again in ${seconds} s` },
          { 'retry-after': String(seconds) },
        );
      }
      return sendError(reply, 401, {
        error: 'invalid_credentials',
        reason: 'the username or the password is not right',
      });
    }
    const current = await signedIn.identify(request, appConfig, host);
    if (current && !('refused' in current) && (current.byToken || !crossOrigin(request.headers, host)))
      return current.session.accountId;
    return sendError(reply, 401, {
      error: 'credentials_required',
      reason:
        'this token is not linked to an account yet: send it again with the user\'s "username" and "password", or from a signed-in session',
    });
  }

  async function exchange(
    request: FastifyRequest,
    reply: FastifyReply,
    appConfig: AppConfig,
    host: string,
    issuerId: string,
  ) {
    const issuer = config.externalIssuers.find((i) => i.id === issuerId);
    if (!issuer) return sendError(reply, 404, { error: `there is no external issuer "${issuerId}"` });
    if (!/^application\/json\b/i.test(request.headers['content-type'] ?? ''))
      return sendError(reply, 415, { error: 'send {"token": …} as application/json' });
    const body = await readJsonObject(request.raw, BODY_LIMIT_BYTES);
    if (!body || typeof body.token !== 'string')
      return sendError(reply, 400, {
        error: 'invalid_request',
        reason: 'the body must be JSON: {"token": "<the identity token>"}',
      });
    let subject: string;
    try {
      subject = subjectOf(
        (await verifyExternalToken(body.token, keys.get(issuer.id)!, issuer)).payload,
        issuer.subjectClaim,
      );
    } catch (error) {
      if (error instanceof IssuerUnavailable) {
        log.warn({ issuer: issuer.id, reason: error.message }, 'external issuer unavailable');
        return sendAnswer(request, reply, errorAnswer(error));
      }
      if (!(error instanceof ExternalTokenRefused)) throw error;
      await signInHappened(
        ctx,
        request,
        { provider: issuer.id, outcome: 'failed', method: 'external-token', app: appConfig.id, reason: error.message },
        'external token refused',
      );
      return sendAnswer(request, reply, errorAnswer(error));
    }
    secret ??= store.instanceSecret(SUBJECT_KEY_SECRET);
    const key = externalSubjectKey(await secret, issuer.issuer, subject);
    const linked = (await store.findIdentity(identityProvider(issuer), key))?.accountId;
    const accountId = linked ?? (await provenAccount(request, reply, appConfig, host, body));
    if (typeof accountId !== 'string') return accountId;
    await ctx.accounts.assertEnabled(accountId);
    if (!linked) {
      try {
        await store.linkIdentity(accountId, identityProvider(issuer), key);
      } catch (error) {
        if (!(error instanceof IdentityConflictError)) throw error;
        return sendAnswer(request, reply, errorAnswer(error));
      }
      log.info({ issuer: issuer.id, account: accountId }, 'external identity linked');
      await recordAudit(ctx, request, {
        kind: 'link',
        outcome: 'success',
        accountId,
        actor: accountId,
        app: appConfig.id,
        detail: { provider: identityProvider(issuer) },
      });
    }
    const via = { provider: identityProvider(issuer), subject: key };
    const user = await userOf(accountId, { ...via, name: accountId, claims: [] });
    // `via`: the identity that signed in (apps see `user`), whose sessions end when it is unlinked.
    const { session } = await store.createSession({
      accountId,
      lifetimeMs: config.session.lifetime,
      data: { user, via, app: appConfig.id },
      device: ctx.clientDeviceOf(request.raw),
    });
    const authenticationToken = await authenticationTokens.issue(session, appConfig.id, user.provider);
    await signInHappened(
      ctx,
      request,
      { provider: issuer.id, outcome: 'success', method: 'external-token', account: accountId, app: appConfig.id },
      'signed in with an external token',
    );
    return reply.header('cache-control', 'no-store').send({ authenticationToken, user: { userId: accountId } });
  }

  return { exchange };
}
