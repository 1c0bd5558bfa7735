// The OpenID Provider on the auth host (src/oidc), for `clients`: oidc-provider answers its own
// endpoints (discovery, /.auth/oidc/*); SignOnce answers its interactions. A login is SignOnce's:
// the browser's single sign-on session if it has one (no provider asked again), else a sign-in
// through SignOnce's providers that comes back with a single-use code. First-party clients are
// not asked for consent; third-party ones get a consent page.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { InteractionResults, Provider } from 'oidc-provider';
import { INTERACTION_PREFIX, OpenIdProvider } from '../oidc/provider.ts';
import type { GatewayContext } from './context.ts';
import { crossOrigin, page, queryParam, readBody } from './http.ts';
import { consentPage, errorPage, logoutConfirmPage, pageHeaders, signInPage, signedOutPage } from './pages.ts';
import { OIDC_LOGIN_CODE, type signInRoutes } from './sign-in.ts';
import type { Session } from '../store/index.ts';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** `endSession`: SignOnce's sign-out of a session (single logout), for RP-initiated logout. */
export function oidcRoutes(ctx: GatewayContext, signIn: ReturnType<typeof signInRoutes>, endSession: (session: Session) => Promise<void>) {
  const { config, store, providers, authenticationTokens, log } = ctx;
  if (config.clients.length === 0) return undefined;
  const postLogoutOrigins = [...new Set(config.clients.flatMap((c) => c.postLogoutRedirectUris).map((uri) => new URL(uri).origin))];
  const op = new OpenIdProvider({
    config, store, authenticationTokens, accounts: ctx.accounts,
    sso: {
      accountOf: async (cookieHeader) => (await signIn.ssoSessionOf(cookieHeader))?.session.accountId,
      endedBy: async (cookieHeader) => {
        const sso = await signIn.ssoSessionOf(cookieHeader);
        if (sso) await endSession(sso.session);
      },
    },
    logoutPage: logoutConfirmPage,
    signedOutPage,
    logoutHeaders: pageHeaders(postLogoutOrigins),
    onError: (error) => log.error({ err: error }, 'OpenID Provider error'),
  });

  /** Whether oidc-provider answers `path` (its endpoints and the discovery document). */
  const handles = (path: string) =>
    path === '/.well-known/openid-configuration' || (path.startsWith('/.auth/oidc/') && !path.startsWith(INTERACTION_PREFIX));

  const NOT_FRAMED_NOT_SNIFFED = { 'x-frame-options': 'DENY', 'content-security-policy': "frame-ancestors 'none'", 'x-content-type-options': 'nosniff' };

  async function serve(request: FastifyRequest, reply: FastifyReply) {
    const provider = await op.provider();
    reply.hijack();
    // oidc-provider's own pages (its post-logout page, its auto-submitted forms) are never framed,
    // and nothing it answers is content-sniffed (its JSON included).
    for (const [name, value] of Object.entries(NOT_FRAMED_NOT_SNIFFED)) reply.raw.setHeader(name, value);
    provider.callback()(request.raw, reply.raw);
    return reply;
  }

  /** The interaction of this browser (oidc-provider's interaction cookie), or a page saying it expired. */
  async function detailsOf(request: FastifyRequest, reply: FastifyReply, provider: Provider): Promise<Details | undefined> {
    try {
      return await provider.interactionDetails(request.raw, reply.raw);
    } catch {
      page(reply, 400, errorPage('Sign-in expired', 'This sign-in has expired or was started in another browser. Start again from the app.'));
      return undefined;
    }
  }

  /** Ends the interaction with `result`; oidc-provider sends the browser on. */
  async function finish(request: FastifyRequest, reply: FastifyReply, provider: Provider, result: InteractionResults) {
    reply.hijack();
    await provider.interactionFinished(request.raw, reply.raw, result, { mergeWithLastSubmission: false });
    return reply;
  }

  /** Grants what a client asks for (first-party clients, or a user who consented). */
  async function grantAll(provider: Provider, details: Details): Promise<string> {
    const grant = details.grantId
      ? (await provider.Grant.find(details.grantId))!
      : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    return grant.save();
  }

  async function interaction(request: FastifyRequest, reply: FastifyReply, uid: string, action: string | undefined) {
    const provider = await op.provider();
    const details = await detailsOf(request, reply, provider);
    if (!details) return reply;
    if (details.uid !== uid) return page(reply, 400, errorPage('Sign-in refused', 'This sign-in belongs to another browser window. Start again from the app.'));
    const path = `${INTERACTION_PREFIX}${uid}`;
    const freshLogin = details.prompt.name === 'login' && details.prompt.reasons.includes('login_prompt');

    if (action === 'done') {
      const back = await store.consumeCode(OIDC_LOGIN_CODE, queryParam(request, 'code') ?? '') as { interaction: string; accountId: string } | undefined;
      if (!back || back.interaction !== uid) return page(reply, 400, errorPage('Sign-in expired', 'This sign-in link was already used or has expired. Start again from the app.'));
      return finish(request, reply, provider, { login: { accountId: back.accountId } });
    }
    if (action?.startsWith('login/')) {
      const providerId = decodeURIComponent(action.slice('login/'.length));
      if (!providers.has(providerId)) return page(reply, 404, errorPage('Unknown sign-in provider', `There is no provider "${providerId}".`));
      return signIn.startInteractionLogin(reply, providerId, uid, path, freshLogin ? 'login' : undefined);
    }
    if (action === 'consent') {
      if (request.method !== 'POST' || crossOrigin(request.headers, ctx.publicUrl.host)) return page(reply, 403, errorPage('Consent refused', 'This form can only be sent from its own page.'));
      const form = new URLSearchParams((await readBody(request.raw, 8 * 1024))?.toString('utf8') ?? '');
      if (form.get('decision') !== 'allow') return finish(request, reply, provider, { error: 'access_denied', error_description: 'the user did not allow it' });
      return finish(request, reply, provider, { consent: { grantId: await grantAll(provider, details) } });
    }
    if (action !== undefined) return page(reply, 404, errorPage('Not found', 'There is no such page.'));

    if (details.prompt.name === 'login') {
      // A browser already signed in to SignOnce is not asked again (unless the client asked for prompt=login).
      const sso = freshLogin ? undefined : await signIn.ssoSessionOf(request.headers.cookie);
      if (sso) return finish(request, reply, provider, { login: { accountId: sso.session.accountId } });
      const choices = [...providers.values()];
      if (choices.length === 1) return signIn.startInteractionLogin(reply, choices[0]!.id, uid, path, freshLogin ? 'login' : undefined);
      return page(reply, 200, signInPage(choices.map((p) => ({ displayName: p.displayName, href: `${path}/login/${encodeURIComponent(p.id)}` }))));
    }
    const client = await provider.Client.find(String(details.params.client_id));
    if ((client as unknown as Record<string, unknown> | undefined)?.['signonce:firstParty'] === true) {
      return finish(request, reply, provider, { consent: { grantId: await grantAll(provider, details) } });
    }
    const scopes = String(details.params.scope ?? '').split(' ').filter(Boolean);
    return page(reply, 200, consentPage(client?.clientName ?? String(details.params.client_id), scopes, `${path}/consent`));
  }

  /** The account and scopes of an access token the provider issued and that is still valid, of an account not disabled. */
  async function grantOf(accessToken: string): Promise<{ accountId: string; scopes: ReadonlySet<string> } | undefined> {
    const token = await (await op.provider()).AccessToken.find(accessToken);
    return token?.accountId && await ctx.accounts.enabled(token.accountId) ? { accountId: token.accountId, scopes: token.scopes } : undefined;
  }

  return { handles, serve, interaction, grantOf, endAccountSessions: (accountId: string) => op.endAccountSessions(accountId) };
}
