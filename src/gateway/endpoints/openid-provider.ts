// The OpenID Provider on the auth host (src/openid-provider), for `clients`: oidc-provider answers its own
// endpoints (discovery, /.auth/oidc/*); SignOnce answers its interactions. A login is SignOnce's:
// the browser's single sign-on session if it has one (no provider asked again), else a sign-in
// through SignOnce's providers that comes back with a single-use code. First-party clients are
// not asked for consent; third-party ones get a consent page.
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { InteractionResults, Provider } from 'oidc-provider';
import { amrOf, provesMultiFactor } from '../../access/step-up.ts';
import { consumeCode, type OpenIdLogin } from '../../session/codes.ts';
import { sessionUser, signedInWith } from '../../session/principal.ts';
import { KeyedMutex } from '../../concurrency/keyed-mutex.ts';
import { DPOP_WINDOW_SECONDS, checkDpopProof, presentedToken } from '../../openid-provider/dpop.ts';
import { MULTI_FACTOR_ACR, authenticationSatisfies, loginRequirements } from '../../openid-provider/login-age.ts';
import { INTERACTION_PREFIX, OpenIdProvider } from '../../openid-provider/provider.ts';
import { proofOf } from '../access.ts';
import type { GatewayContext } from '../context.ts';
import { openIdProviderHeaders } from '../rules/forwarded.ts';
import { crossOrigin } from '../rules/cross-origin.ts';
import { page, pathOf, queryParam, readBody } from '../http.ts';
import {
  consentPage,
  errorPage,
  formActionSource,
  logoutConfirmPage,
  pageHeaders,
  signInPage,
  signedOutPage,
} from '../pages.ts';
import { ssoSessionOf } from './handoff.ts';
import { startAuthHostLogin } from './sign-in.ts';
import type { Session } from '../../store/index.ts';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** What an access token presented at GET /.auth/token grants, or why it is refused (RFC 6750 section 3.1, RFC 9449 section 7.1 error codes). */
export type ClientGrant =
  | { accountId: string; scopes: ReadonlySet<string> }
  | { refused: 'invalid_token' | 'invalid_dpop_proof'; reason?: string };

/** `endSession`: SignOnce's sign-out of a session (single logout), for RP-initiated logout. */
export function oidcRoutes(ctx: GatewayContext, endSession: (session: Session) => Promise<void>) {
  const { config, store, providers, authenticationTokens, log } = ctx;
  if (config.clients.length === 0) return undefined;
  const postLogoutOrigins = [
    ...new Set(config.clients.flatMap((c) => c.postLogoutRedirectUris).map((uri) => new URL(uri).origin)),
  ];
  const op = new OpenIdProvider({
    config,
    store,
    authenticationTokens,
    accounts: ctx.accounts,
    access: ctx.access,
    sso: {
      accountOf: async (cookieHeader) => (await ssoSessionOf(ctx, cookieHeader))?.session.accountId,
      endedBy: async (cookieHeader) => {
        const sso = await ssoSessionOf(ctx, cookieHeader);
        if (sso) await endSession(sso.session);
      },
    },
    logoutPage: logoutConfirmPage,
    signedOutPage,
    logoutHeaders: pageHeaders(postLogoutOrigins),
    onError: (error) => log.error({ err: error }, 'OpenID Provider error'),
    onRefusal: (details) => {
      log.info(details, `access for OpenID client ${details.client} refused`);
      ctx.audit.recordRepeated(`access-refused\n${details.account}\noidc:${details.client}\n${details.reason}`, {
        kind: 'access-refused',
        outcome: 'refused',
        accountId: details.account,
        app: 'oidc',
        detail: { client: details.client, reason: details.reason },
      });
    },
  });

  const DISCOVERY = '/.well-known/openid-configuration';

  const NOT_FRAMED_NOT_SNIFFED = {
    'x-frame-options': 'DENY',
    'content-security-policy': "frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
  };
  // The discovery document changes only with the configuration; cached as long as the key set (token-endpoints.ts).
  const DISCOVERY_CACHE = 'public, max-age=300';

  /** The request as oidc-provider may see it: its forwarding headers publicUrl's (forwarded.ts openIdProviderHeaders). */
  function toProvider(request: FastifyRequest): IncomingMessage {
    request.raw.headers = openIdProviderHeaders(request.raw.headers, ctx.publicUrl, ctx.clientAddressOf(request.raw));
    return request.raw;
  }

  async function serve(request: FastifyRequest, reply: FastifyReply) {
    const provider = await op.provider();
    reply.hijack();
    // oidc-provider's own pages (its post-logout page, its auto-submitted forms) are never framed,
    // and nothing it answers is content-sniffed (its JSON included).
    for (const [name, value] of Object.entries(NOT_FRAMED_NOT_SNIFFED)) reply.raw.setHeader(name, value);
    if (pathOf(request.url) === DISCOVERY) reply.raw.setHeader('cache-control', DISCOVERY_CACHE);
    provider.callback()(toProvider(request), reply.raw);
    return reply;
  }

  /** The interaction of this browser (oidc-provider's interaction cookie), or a page saying it expired. */
  async function detailsOf(
    request: FastifyRequest,
    reply: FastifyReply,
    provider: Provider,
  ): Promise<Details | undefined> {
    try {
      return await provider.interactionDetails(toProvider(request), reply.raw);
    } catch {
      page(
        reply,
        400,
        errorPage(
          'Sign-in expired',
          'This sign-in has expired or was started in another browser. Start again from the app.',
        ),
      );
      return undefined;
    }
  }

  /** Ends the interaction with `result`; oidc-provider sends the browser on. */
  async function finish(request: FastifyRequest, reply: FastifyReply, provider: Provider, result: InteractionResults) {
    reply.hijack();
    await provider.interactionFinished(toProvider(request), reply.raw, result, { mergeWithLastSubmission: false });
    return reply;
  }

  /**
   * The login oidc-provider records: the account, and when the user last proved themselves to a
   * provider (the SignOnce session's start), so `auth_time` and max_age checks use the real time
   * of authentication, never the time a single sign-on session was reused; how (`amr`), and the
   * multi-factor `acr` when that proved a second factor. ID tokens carry them.
   */
  const loginResult = ({ accountId, authTime, amr, multiFactor }: Omit<OpenIdLogin, 'interaction'>) => ({
    accountId,
    ts: Math.floor(authTime / 1000),
    ...(amr.length ? { amr } : {}),
    ...(multiFactor ? { acr: MULTI_FACTOR_ACR } : {}),
  });

  /** What the single sign-on session `session` proved, as a login. */
  const ssoLogin = (session: Session): Omit<OpenIdLogin, 'interaction'> => {
    const claims = sessionUser(session)?.claims ?? [];
    const user = { provider: signedInWith(session)?.provider ?? '', claims };
    return {
      accountId: session.accountId,
      authTime: session.createdAt,
      amr: amrOf(claims),
      multiFactor: provesMultiFactor(proofOf(ctx, { user, session })),
    };
  };

  /** Grants what a client asks for (first-party clients, or a user who consented). */
  async function grantAll(provider: Provider, details: Details): Promise<string> {
    const grant = details.grantId
      ? (await provider.Grant.find(details.grantId))!
      : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    const missing = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {}))
      grant.addResourceScope(indicator, scopes.join(' '));
    return grant.save();
  }

  async function interaction(request: FastifyRequest, reply: FastifyReply, uid: string, action: string | undefined) {
    const provider = await op.provider();
    const details = await detailsOf(request, reply, provider);
    if (!details) return reply;
    if (details.uid !== uid)
      return page(
        reply,
        400,
        errorPage('Sign-in refused', 'This sign-in belongs to another browser window. Start again from the app.'),
      );
    const path = `${INTERACTION_PREFIX}${uid}`;
    // The browser's single sign-on session answers the login prompt only if its authentication is
    // recent enough for this request (prompt=login, max_age); else the user signs in again, and the
    // provider is asked to authenticate them anew (prompt=login), not from a session of its own.
    const requirements = loginRequirements(details.params);
    const sso = details.prompt.name === 'login' ? await ssoSessionOf(ctx, request.headers.cookie) : undefined;
    const ssoProved = sso && ssoLogin(sso.session);
    const ssoAnswers =
      ssoProved !== undefined &&
      authenticationSatisfies(
        { authTimeMs: ssoProved.authTime, multiFactor: ssoProved.multiFactor },
        requirements,
        Date.now(),
      );
    const freshLogin =
      !ssoAnswers && (requirements.promptLogin || requirements.maxAge !== undefined || requirements.multiFactor)
        ? 'login'
        : undefined;
    const interactionLogin = (providerId: string) =>
      startAuthHostLogin(ctx, reply, {
        provider: providerId,
        appId: 'oidc',
        redirect: path,
        interaction: uid,
        ...(freshLogin ? { prompt: freshLogin } : {}),
        // A new sign-in the provider must show to be new when the client asked for a recent one.
        ...(freshLogin && (requirements.promptLogin || requirements.maxAge !== undefined)
          ? { reauthenticate: true }
          : {}),
        ...(requirements.multiFactor ? { mfa: true } : {}),
      });

    if (action === 'done') {
      const back = await consumeCode(store, 'oidc-login', queryParam(request, 'code') ?? '');
      if (!back || back.interaction !== uid)
        return page(
          reply,
          400,
          errorPage('Sign-in expired', 'This sign-in link was already used or has expired. Start again from the app.'),
        );
      return finish(request, reply, provider, { login: loginResult(back) });
    }
    if (action?.startsWith('login/')) {
      const providerId = decodeURIComponent(action.slice('login/'.length));
      if (!providers.has(providerId))
        return page(reply, 404, errorPage('Unknown sign-in provider', `There is no provider "${providerId}".`));
      return interactionLogin(providerId);
    }
    if (action === 'consent') {
      if (request.method !== 'POST' || crossOrigin(request.headers, ctx.publicUrl.host))
        return page(reply, 403, errorPage('Consent refused', 'This form can only be sent from its own page.'));
      const form = new URLSearchParams((await readBody(request.raw, 8 * 1024))?.toString('utf8') ?? '');
      if (form.get('decision') !== 'allow')
        return finish(request, reply, provider, {
          error: 'access_denied',
          error_description: 'the user did not allow it',
        });
      return finish(request, reply, provider, { consent: { grantId: await grantAll(provider, details) } });
    }
    if (action !== undefined) return page(reply, 404, errorPage('Not found', 'There is no such page.'));

    if (details.prompt.name === 'login') {
      // A browser already signed in to SignOnce recently enough is not asked again.
      if (ssoProved && ssoAnswers) return finish(request, reply, provider, { login: loginResult(ssoProved) });
      const choices = [...providers.values()];
      if (choices.length === 1) return interactionLogin(choices[0]!.id);
      return page(
        reply,
        200,
        signInPage(
          choices.map((p) => ({ displayName: p.displayName, href: `${path}/login/${encodeURIComponent(p.id)}` })),
        ),
      );
    }
    const client = await provider.Client.find(String(details.params.client_id));
    if ((client as unknown as Record<string, unknown> | undefined)?.['signonce:firstParty'] === true) {
      return finish(request, reply, provider, { consent: { grantId: await grantAll(provider, details) } });
    }
    const scopes = String(details.params.scope ?? '')
      .split(' ')
      .filter(Boolean);
    // Allow and deny both end at the client's redirect URI (oidc-provider matched it exactly).
    return page(
      reply,
      200,
      consentPage(client?.clientName ?? String(details.params.client_id), scopes, `${path}/consent`),
      [formActionSource(String(details.params.redirect_uri))],
    );
  }

  const proofUses = new KeyedMutex();
  /**
   * The account and scopes of the access token a request presents, one the provider issued and
   * still valid, presented as its binding requires: a DPoP-bound token only with the DPoP scheme
   * and a proof of its key for this request, used once (RFC 9449 sections 7.1 and 11.1; as Bearer
   * it is refused, section 7.2); an unbound one only as Bearer. A certificate-bound token (mTLS,
   * which SignOnce does not enable) is refused, and so is any token of a disabled account.
   */
  async function grantOf(request: FastifyRequest): Promise<ClientGrant> {
    const presented = presentedToken(request.headers.authorization);
    if (!presented) return { refused: 'invalid_token' };
    const provider = await op.provider();
    const token = await provider.AccessToken.find(presented.token);
    if (!token?.accountId || token['x5t#S256'] !== undefined || !(await ctx.accounts.enabled(token.accountId)))
      return { refused: 'invalid_token' };
    if (token.jkt === undefined)
      return presented.scheme === 'Bearer'
        ? { accountId: token.accountId, scopes: token.scopes }
        : { refused: 'invalid_token' };
    if (presented.scheme !== 'DPoP') return { refused: 'invalid_token' };
    const nowSeconds = Math.floor(Date.now() / 1000);
    const proof = await checkDpopProof(request.headers.dpop, {
      method: request.method,
      url: ctx.authUrl(pathOf(request.url)),
      accessToken: presented.token,
      jkt: token.jkt,
      nowSeconds,
    });
    if (!proof.ok) return { refused: 'invalid_dpop_proof', reason: proof.reason };
    // The jti is kept as long as its proof could be accepted, as oidc-provider keeps those of its
    // own endpoints; its check reads then writes, so one proof's uses take turns in this process.
    const firstUse = await proofUses.run(proof.jti, () =>
      provider.ReplayDetection.unique(
        token.clientId!,
        proof.jti,
        Math.max(proof.iat, nowSeconds) + DPOP_WINDOW_SECONDS,
      ),
    );
    return firstUse
      ? { accountId: token.accountId, scopes: token.scopes }
      : { refused: 'invalid_dpop_proof', reason: 'the proof was used before (jti)' };
  }

  return { serve, interaction, grantOf, endAccountSessions: (accountId: string) => op.endAccountSessions(accountId) };
}
