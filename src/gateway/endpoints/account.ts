// The signed-in user's account, on app hosts: /.auth/me lists every identity linked to it;
// GET /.auth/link/{provider} links one more (the way of a sign-in, src/gateway/endpoints/sign-in.ts);
// POST /.auth/unlink/{provider} removes one, never the last, and ends what it signed in.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../../config/index.ts';
import type { IdentityProfile } from '../../accounts/accounts.ts';
import { meEntry, signedInWith, type SignedInIdentity } from '../../session/principal.ts';
import { setCookieHeader } from '../../session/cookies.ts';
import { LastIdentityError, type Session } from '../../store/index.ts';
import { recordAudit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { crossOrigin } from '../rules/cross-origin.ts';
import { page, queryParam } from '../http.ts';
import { errorPage } from '../pages.ts';
import { startLogin } from './sign-in.ts';
import { refusedAtEndpoint } from '../access.ts';
import { CROSS_SITE_REFUSED, invalidToken, keysUnavailable, notSignedIn, sendError } from '../errors.ts';
import { resourceMetadataUrl } from './protected-resource.ts';

export function accountRoutes(ctx: GatewayContext) {
  const { config, store, providers, signedIn, accounts, secure } = ctx;

  /**
   * GET /.auth/me: one entry per linked identity, the one signed in with first (Easy Auth's shape).
   * With a provider's access token (acceptProviderTokens): its principal alone, with no tokens (a
   * bearer of a provider token never gets the tokens SignOnce keeps, even of a linked account).
   */
  async function me(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string) {
    const current = await signedIn.resolve(request, appConfig, host);
    if (current && 'refused' in current)
      return invalidToken(reply, appConfig, current.refused, resourceMetadataUrl(ctx, appConfig, host));
    if (current && 'unavailable' in current) return keysUnavailable(request, reply, current.unavailable);
    if (!current) return notSignedIn(reply);
    const refused = await refusedAtEndpoint(ctx, request, reply, current, appConfig);
    if (refused) return refused;
    if (!('session' in current))
      return reply.header('cache-control', 'no-store').send([meEntry(current.user, undefined, false)]);
    const { accountId } = current.session;
    const entries = [meEntry(current.user, current.tokens, appConfig.exposeRefreshTokens)];
    for (const identity of await accounts.identities(accountId)) {
      if (identity.provider === current.user.provider && identity.subject === current.user.subject) continue;
      const profile = identity.profile as IdentityProfile | undefined;
      const user: SignedInIdentity = {
        provider: identity.provider,
        subject: identity.subject,
        name: profile?.name ?? identity.subject,
        claims: profile?.claims ?? [],
      };
      const tokens = appConfig.tokenStore
        ? await store.getTokens({ accountId, provider: identity.provider, resource: '' })
        : undefined;
      entries.push(meEntry(user, tokens, appConfig.exposeRefreshTokens));
    }
    return reply.header('cache-control', 'no-store').send(entries);
  }

  /** GET /.auth/link/{provider}: a sign-in at the provider whose identity then joins this session's account. */
  async function link(
    request: FastifyRequest,
    reply: FastifyReply,
    appConfig: AppConfig,
    host: string,
    providerId: string,
  ) {
    const current = await signedIn.identify(request, appConfig, host);
    // A browser flow: the session cookie, not a token (the flow ends in this browser).
    if (!current || 'refused' in current || current.byToken) {
      return page(
        reply,
        401,
        errorPage('Sign in first', 'Linking adds a sign-in to your account: sign in, then link.', '/.auth/login'),
      );
    }
    // A local account is an account of its own from its registration on: accounts are never merged.
    if (providers.get(providerId)?.type === 'password') {
      return page(
        reply,
        400,
        errorPage(
          'Cannot link',
          `${providers.get(providerId)!.displayName} accounts are accounts of their own and cannot be linked to another; link other providers to them instead.`,
          '/',
        ),
      );
    }
    return startLogin(ctx, request, reply, appConfig, host, providerId, current.session.ref);
  }

  /**
   * POST /.auth/unlink/{provider}[?subject=…]: the account's identity at the provider goes, with
   * the account's tokens of that provider (`subject` picks one when several are linked), and the
   * sessions it signed in end (single logout: every app sharing them, their authentication
   * tokens). The caller's own session among them ends too: `signedOut: true`, the cookie cleared.
   * 409 for the last identity.
   */
  async function unlink(
    request: FastifyRequest,
    reply: FastifyReply,
    appConfig: AppConfig,
    host: string,
    providerId: string,
  ) {
    const current = await signedIn.identify(request, appConfig, host);
    if (current && 'refused' in current) return invalidToken(reply, appConfig, current.refused);
    if (!current) return notSignedIn(reply);
    if (!current.byToken && crossOrigin(request.headers, host)) return sendError(reply, 403, CROSS_SITE_REFUSED);
    const { accountId } = current.session;
    const subject = queryParam(request, 'subject');
    const outcome = await unlinkIdentity(ctx, request, accountId, providerId, subject, appConfig.id);
    if ('refused' in outcome) {
      const { status, error, subjects } = outcome.refused;
      return sendError(reply, status, { error, ...(subjects ? { subjects } : {}) });
    }
    const { ended } = outcome;
    const signedOut = ended.some((session) => session.ref === current.session.ref);
    if (signedOut && !current.byToken)
      reply.header('set-cookie', setCookieHeader(config.session.cookieName, '', { secure, maxAgeSeconds: 0 }));
    return reply.header('cache-control', 'no-store').send({ unlinked: providerId, signedOut });
  }

  return { me, link, unlink };
}

/** How an unlink ended: the sessions it ended, or why it was refused (in words a person reads). */
export type UnlinkOutcome =
  | { readonly ended: readonly Session[] }
  | {
      readonly refused: {
        readonly status: 400 | 404 | 409;
        readonly error: string;
        /** When several identities of the provider are linked: which to name. */
        readonly subjects?: readonly string[];
      };
    };

/**
 * Unlinks the account's identity at `providerId` (`subject` picks one when several are linked),
 * with the account's tokens of that provider, never the last identity; the sessions it signed in
 * end (single logout: every app sharing them). Logged and audited. For /.auth/unlink and the
 * account page alike.
 */
export async function unlinkIdentity(
  ctx: GatewayContext,
  request: FastifyRequest,
  accountId: string,
  providerId: string,
  subject: string | undefined,
  app: string,
): Promise<UnlinkOutcome> {
  const { store, providers, accounts } = ctx;
  const linked = (await accounts.identities(accountId)).filter(
    (i) => i.provider === providerId && (subject === undefined || i.subject === subject),
  );
  if (linked.length === 0)
    return {
      refused: {
        status: 404,
        error: `no ${providers.get(providerId)?.displayName ?? providerId} identity is linked to this account`,
      },
    };
  if (linked.length > 1)
    return {
      refused: {
        status: 400,
        error: 'several identities of this provider are linked: name one with ?subject=',
        subjects: linked.map((i) => i.subject),
      },
    };
  const { subject: unlinked } = linked[0]!;
  try {
    await store.unlinkIdentity(accountId, providerId, unlinked);
  } catch (error) {
    if (!(error instanceof LastIdentityError)) throw error;
    return { refused: { status: 409, error: error.message } };
  }
  // Expired sessions too: one within the refresh grace could still be renewed.
  const ended = (await store.listAccountSessions(accountId)).filter((session) => {
    const identity = signedInWith(session);
    return identity?.provider === providerId && identity.subject === unlinked;
  });
  for (const session of ended) await store.revokeSessionByRef(session.ref);
  request.log.info({ provider: providerId, account: accountId, sessionsEnded: ended.length }, 'identity unlinked');
  await recordAudit(ctx, request, {
    kind: 'unlink',
    outcome: 'success',
    accountId,
    actor: accountId,
    app,
    detail: { provider: providerId, sessionsEnded: ended.length },
  });
  return { ended };
}
