// Every request, by host: app hosts get the Easy Auth routes (/.auth/*) and the proxy; the auth
// host gets the provider hops and the probes; any other host gets the probes or 421.
//
// Sign-in, across hosts:
//   app host  GET /.auth/login/{p}?post_login_redirect_uri=…  -> login request code (5 min)
//   auth host GET /.auth/login/{p}/start?login=…   -> login state S (5 min, single use), a cookie on
//             the auth host binding S to this browser and keeping PKCE/nonce, redirect to provider
//   auth host GET /.auth/login/{p}/callback?state=S -> provider checks, account, tokens sealed,
//             session, single-use hand-off code H (60 s) bound to the app host
//   app host  GET /.auth/login/done?code=H          -> session cookie for this host only, redirect
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig, Config } from '../config/index.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { ProviderError, type Provider, type SignInResult } from '../providers/index.ts';
import { openSessionCookie, readCookie, sealSessionCookie, setCookieHeader } from '../session/cookies.ts';
import { isAuthenticationTokenType, type AuthenticationTokens } from '../session/authentication-tokens.ts';
import { meEntry, type SignedInUser } from '../session/principal.ts';
import type { Session, Store } from '../store/index.ts';
import { isExcludedPath } from './excluded-paths.ts';
import { healthz, readyz } from './health.ts';
import { hostRouter } from './hosts.ts';
import { dropsForwardingHeader, forwardedHeaders, trustedProxyMatcher } from './forwarded.ts';
import { forwardableHeaders } from './identity-headers.ts';
import { devSignInForm, pageHeaders, errorPage, signInPage, signedOutPage } from './pages.ts';
import { UpstreamProxy, endToEnd } from './proxy.ts';
import { SignedInResolver, bearerToken, type SignedIn } from './signed-in.ts';
import { refuseUpgrade, tunnel } from './websocket.ts';
import { checkRedirect } from './redirects.ts';

export interface GatewayDeps {
  readonly config: Config;
  readonly store: Store;
  readonly keyring: Keyring;
  readonly providers: ReadonlyMap<string, Provider>;
  readonly authenticationTokens: AuthenticationTokens;
}

const LOGIN_TTL_MS = 5 * 60_000;
const HANDOFF_TTL_MS = 60_000;
const LOGIN_COOKIE = 'SignOnceLogin';
// On the auth host: the browser's single sign-on session, which app hosts without a session of
// their own are handed (the same server-side session, each host with its own host-bound cookie).
const SSO_COOKIE = 'SignOnceSSO';
const FORM_POST_LIMIT_BYTES = 64 * 1024;
const EXCHANGE_LIMIT_BYTES = 4096;
const CLIENT_TOKENS_LIMIT_BYTES = 64 * 1024;

/** A request body of at most `limit` bytes; undefined (and the rest left unread) when larger. */
async function readBody(incoming: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (Number(incoming.headers['content-length'] ?? 0) > limit) return undefined;
  for await (const chunk of incoming.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

// `browser`: a random value the app host also keeps in a cookie of the browser that started the
// sign-in, so the hand-off code works only in that browser (a code leaked from a URL is useless).
interface LoginRequest { provider: string; appId: string; host: string; redirect: string; browser: string; prompt?: string; tokenMode?: boolean }
interface Handoff { secret: string; host: string; redirect: string; browser: string; tokenMode?: boolean }


const loginBinding = (state: string) => ({ purpose: 'login-browser', owner: [state] });
const handoffBinding = (host: string) => ({ purpose: 'handoff-browser', owner: [host] });

/** Whether two strings are equal, in time independent of where they differ. */
const sameSecret = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** The request path without its query string. */
const pathOf = (url: string) => url.split('?', 1)[0]!;
/** A query parameter (the first, when repeated). */
const queryParam = (request: FastifyRequest, name: string): string | undefined => {
  const value = (request.query as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : value;
};

export const gatewayRoutes: FastifyPluginAsync<GatewayDeps> = async (app, { config, store, keyring, providers, authenticationTokens }) => {
  const route = hostRouter(config);
  const publicUrl = new URL(config.publicUrl);
  const secure = publicUrl.protocol === 'https:';
  const appUrl = (host: string, path: string) => `${publicUrl.protocol}//${host}${path}`;
  const authUrl = (path: string) => `${publicUrl.origin}${path}`;
  const ownCookies = new Set([config.session.cookieName, LOGIN_COOKIE, SSO_COOKIE]);
  const appsById = new Map(config.apps.map((a) => [a.id, a]));
  const proxy = new UpstreamProxy();
  const fromTrustedProxy = trustedProxyMatcher(config.trustedProxies);
  app.addHook('preClose', async () => proxy.stopping());
  app.addHook('onClose', () => proxy.close());

  // Bodies of proxied requests are streamed to the upstream, never parsed here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  const page = (reply: FastifyReply, status: number, html: string, formTargets?: readonly string[]) =>
    reply.code(status).headers(pageHeaders(formTargets)).send(html);
  const appOrigins = config.apps.flatMap((a) => a.hosts.map((host) => `${publicUrl.protocol}//${host}`));
  const redirect = (reply: FastifyReply, location: string) => reply.code(302).header('cache-control', 'no-store').redirect(location);

  const signedIn = new SignedInResolver({ config, store, keyring, authenticationTokens });

  /** RFC 6750 section 3.1: the token presented is not accepted. */
  const invalidToken = (reply: FastifyReply, appConfig: AppConfig, why: string) =>
    reply.code(401).header('www-authenticate', `Bearer realm="${appConfig.id}", error="invalid_token"`).header('cache-control', 'no-store')
      .send({ error: 'the authentication token is not accepted here', reason: why });

  // --- app host -----------------------------------------------------------------------------

  async function startLogin(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string, providerId: string) {
    if (!providers.has(providerId)) return page(reply, 404, errorPage('Unknown sign-in provider', `There is no provider "${providerId}".`, '/.auth/login'));
    const target = queryParam(request, 'post_login_redirect_uri') ?? '/';
    const decision = checkRedirect(target, appConfig.allowedExternalRedirectUrls);
    if (!decision.ok) {
      request.log.warn({ reason: decision.reason }, 'refused post_login_redirect_uri');
      return page(reply, 400, errorPage('Sign-in refused', `post_login_redirect_uri is not allowed here: ${decision.reason}.`));
    }
    const prompt = queryParam(request, 'prompt');
    // Server-directed sign-in for native apps (Easy Auth's): the token travels back in the fragment
    // of the redirect, to an app scheme (myapp://…) or when asked for with session_mode=token.
    const tokenMode = queryParam(request, 'session_mode') === 'token' || !/^https?:|^\//i.test(decision.location);
    const browser = randomBytes(16).toString('base64url');
    const login: LoginRequest = { provider: providerId, appId: appConfig.id, host, redirect: decision.location, browser, ...(prompt ? { prompt } : {}), ...(tokenMode ? { tokenMode } : {}) };
    const code = await store.issueCode('login-request', login, LOGIN_TTL_MS);
    reply.header('set-cookie', setCookieHeader(LOGIN_COOKIE, keyring.seal(browser, handoffBinding(host)), { secure, maxAgeSeconds: LOGIN_TTL_MS / 1000, path: '/.auth/login/' }));
    return redirect(reply, authUrl(`/.auth/login/${encodeURIComponent(providerId)}/start?login=${encodeURIComponent(code)}`));
  }

  async function finishLogin(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string) {
    const code = queryParam(request, 'code') ?? '';
    const handoff = await store.consumeCode('handoff', code) as Handoff | undefined;
    const browserCookie = readCookie(request.headers.cookie, LOGIN_COOKIE);
    reply.header('set-cookie', setCookieHeader(LOGIN_COOKIE, '', { secure, maxAgeSeconds: 0, path: '/.auth/login/' }));
    if (!handoff || handoff.host !== host) {
      return page(reply, 400, errorPage('Sign-in expired', 'This sign-in link was already used or has expired.', '/.auth/login'));
    }
    let browser: string | undefined;
    try {
      browser = browserCookie ? keyring.openString(browserCookie, handoffBinding(host)) : undefined;
    } catch {
      browser = undefined;
    }
    if (!browser || !sameSecret(browser, handoff.browser)) {
      request.log.warn({ app: appConfig.id }, 'sign-in hand-off refused: the code was used in another browser than the one that started the sign-in');
      return page(reply, 400, errorPage('Sign-in refused', 'This sign-in was started in another browser. Start again here.', '/.auth/login'));
    }
    if (handoff.tokenMode) {
      const session = await store.getSession(handoff.secret);
      if (!session) return page(reply, 400, errorPage('Sign-in expired', 'This sign-in has ended already.', '/.auth/login'));
      const authenticationToken = await authenticationTokens.issue({
        accountId: session.accountId, app: appConfig.id, idp: (session.data.user as SignedInUser).provider, sessionRef: session.ref, expiresAt: session.expiresAt,
      });
      const result = JSON.stringify({ authenticationToken, user: { userId: session.accountId } });
      return redirect(reply, `${handoff.redirect.split('#', 1)[0]}#token=${encodeURIComponent(result)}`);
    }
    const cookie = sealSessionCookie(keyring, handoff.secret, host);
    reply.header('set-cookie', setCookieHeader(config.session.cookieName, cookie, { secure, maxAgeSeconds: Math.floor(config.session.lifetime / 1000) }));
    return redirect(reply, handoff.redirect);
  }

  async function me(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string) {
    const current = await signedIn.resolve(request, appConfig, host);
    if (current && 'refused' in current) return invalidToken(reply, appConfig, current.refused);
    if (!current) return reply.code(401).header('cache-control', 'no-store').send({ error: 'not signed in' });
    return reply.header('cache-control', 'no-store').send([meEntry(current.user, current.tokens, appConfig.exposeRefreshTokens)]);
  }

  async function logout(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string) {
    const target = queryParam(request, 'post_logout_redirect_uri') ?? '/.auth/logout/complete';
    const decision = checkRedirect(target, appConfig.allowedExternalRedirectUrls);
    if (!decision.ok) return page(reply, 400, errorPage('Sign-out refused', `post_logout_redirect_uri is not allowed here: ${decision.reason}.`));
    const current = await signedIn.resolve(request, appConfig, host);
    let atProvider: string | undefined;
    if (current && !('refused' in current)) {
      // Asked before the tokens go: the ID token is the provider's hint of whom to sign out.
      atProvider = appConfig.providerLogout ? await providerLogoutUrl(current, host, decision.location) : undefined;
      await store.revokeSessionByRef(current.session.ref);
      signedIn.forgetSession(current.session.ref);
      // As Easy Auth does: signing out removes the user's provider tokens, unless told to keep them.
      if (!config.tokenStore.keepOnLogout) {
        await store.deleteTokens(current.session.accountId);
        signedIn.forgetAccount(current.session.accountId);
      }
    }
    reply.header('set-cookie', setCookieHeader(config.session.cookieName, '', { secure, maxAgeSeconds: 0 }));
    return redirect(reply, atProvider ?? decision.location);
  }

  /**
   * The provider's end-session URL for this user, returning through the auth host (one
   * post-logout redirect URI to register per SignOnce, like the callback) to `target` on `host`.
   */
  async function providerLogoutUrl(current: SignedIn, host: string, target: string): Promise<string | undefined> {
    const provider = providers.get(current.user.provider);
    if (!provider?.endSessionUrl) return undefined;
    const stored = await store.getTokens({ accountId: current.session.accountId, provider: provider.id, resource: '' });
    const state = await store.issueCode('logout-return', { host, target }, LOGIN_TTL_MS);
    try {
      return await provider.endSessionUrl({ idToken: stored?.tokens.idToken, postLogoutRedirectUri: authUrl('/.auth/logout/done'), state });
    } catch (error) {
      app.log.warn({ provider: provider.id, err: error }, 'could not sign out at the provider (its end-session endpoint is unknown); signed out here only');
      return undefined;
    }
  }

  /** Back from the provider's sign-out: on to where the app asked to land. */
  async function logoutReturn(request: FastifyRequest, reply: FastifyReply) {
    const back = await store.consumeCode('logout-return', queryParam(request, 'state') ?? '') as { host: string; target: string } | undefined;
    if (!back) return page(reply, 200, signedOutPage());
    return redirect(reply, /^\//.test(back.target) ? appUrl(back.host, back.target) : back.target);
  }

  function signInChoices(request: FastifyRequest, reply: FastifyReply) {
    const query = new URLSearchParams(request.url.split('?')[1] ?? '').toString();
    const choices = [...providers.values()].map((p) => ({ displayName: p.displayName, href: `/.auth/login/${encodeURIComponent(p.id)}${query ? `?${query}` : ''}` }));
    return page(reply, 200, signInPage(choices));
  }

  /** Not signed in: Easy Auth's unauthenticatedAction, with 401 for requests that are not navigations. */
  function unauthenticated(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig) {
    switch (appConfig.unauthenticatedAction) {
      case 'Return403':
        return reply.code(403).send({ error: 'not signed in' });
      case 'Return401':
        return reply.code(401).header('www-authenticate', `Bearer realm="${appConfig.id}"`).send({ error: 'not signed in' });
      default: {
        const navigation = request.headers['sec-fetch-mode'] === 'navigate' || (!request.headers['sec-fetch-mode'] && /text\/html/.test(request.headers.accept ?? ''));
        if (!navigation || request.method !== 'GET') return reply.code(401).header('www-authenticate', `Bearer realm="${appConfig.id}"`).send({ error: 'not signed in' });
        const back = `post_login_redirect_uri=${encodeURIComponent(request.url)}`;
        return redirect(reply, appConfig.defaultProvider ? `/.auth/login/${encodeURIComponent(appConfig.defaultProvider)}?${back}` : `/.auth/login?${back}`);
      }
    }
  }

  /** A request sent by a page of another site (or origin), per Sec-Fetch-Site and Origin. */
  function crossOrigin(headers: IncomingHttpHeaders, host: string): boolean {
    if (headers['sec-fetch-site'] === 'cross-site') return true;
    const origin = headers.origin;
    return origin !== undefined && (!URL.canParse(origin) || new URL(origin).host !== host);
  }

  /** Cookie-authenticated requests that change state must come from the app's own pages (CSRF). */
  const crossSite = (request: FastifyRequest, host: string) => !['GET', 'HEAD', 'OPTIONS'].includes(request.method) && crossOrigin(request.headers, host);

  /**
   * The headers an app receives: the client's, cleaned (and, unless tunnelling an upgrade, without
   * hop-by-hop headers, so a client's `Connection` cannot name SignOnce's own), plus identity,
   * tokens and forwarding.
   */
  function headersToApp(raw: IncomingMessage, host: string, current: SignedIn | undefined, upgrade = false): Array<[string, string]> {
    const remoteAddress = raw.socket.remoteAddress ?? '';
    const trusted = fromTrustedProxy(remoteAddress);
    const bearer = bearerToken(raw.headers.authorization);
    const fromClient = forwardableHeaders(raw.rawHeaders, ownCookies, bearer !== undefined && isAuthenticationTokenType(bearer))
      .filter(([name]) => !dropsForwardingHeader(name, trusted));
    const headers = upgrade ? fromClient : endToEnd(fromClient);
    if (current) headers.push(...current.identityHeaders);
    headers.push(...forwardedHeaders({ remoteAddress, trusted, headers: raw.headers, proto: publicUrl.protocol.slice(0, -1), host }));
    return headers;
  }

  /** Whether a request without a session may reach the app anyway. */
  const anonymousAllowed = (appConfig: AppConfig, url: string) =>
    appConfig.unauthenticatedAction === 'AllowAnonymous' || isExcludedPath(url, appConfig.excludedPaths);

  async function toApp(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string) {
    const current = await signedIn.resolve(request, appConfig, host);
    if (current && 'refused' in current) return invalidToken(reply, appConfig, current.refused);
    if (current && !current.byToken && crossSite(request, host)) return reply.code(403).send({ error: 'cross-site request refused' });
    if (!current && !anonymousAllowed(appConfig, request.url)) return unauthenticated(request, reply, appConfig);
    const headers = headersToApp(request.raw, host, current);
    const outcome = await proxy.forward(appConfig.upstream, request.raw, headers, reply, appConfig.upstreamTimeout);
    if (outcome === 'ok' || outcome === 'interrupted') {
      // Info, not warn: a client leaving mid-answer (a closed tab) is ordinary.
      if (outcome === 'interrupted') request.log.info({ app: appConfig.id }, `the answer of ${appConfig.id} ended early: the client left or the app broke off`);
      // Fastify logs completion only for the replies it sends; this one went out directly.
      reply.log.info({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
      return reply;
    }
    request.log.error({ app: appConfig.id, outcome }, `upstream of ${appConfig.id} ${outcome === 'timeout' ? 'did not answer in time' : 'is unreachable'}`);
    return outcome === 'timeout'
      ? page(reply, 504, errorPage('The app did not answer in time', 'Please try again in a moment.'))
      : page(reply, 502, errorPage('The app is not reachable', 'Please try again in a moment.'));
  }

  /**
   * POST /.auth/exchange {"audience": "app2"} with an authentication token: a token for app2 for the
   * same session, when app2 trusts the app the token was issued for (its `acceptTokensFrom`). Only
   * a token is accepted here, never the cookie: no page of another site can have tokens minted.
   */
  async function exchange(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig) {
    const credential = signedIn.credentialOf(request.headers);
    if (!credential || !('token' in credential)) return invalidToken(reply, appConfig, 'no authentication token presented');
    const body = await readBody(request.raw, EXCHANGE_LIMIT_BYTES);
    let audience: unknown;
    try {
      audience = body && (JSON.parse(body.toString('utf8')) as { audience?: unknown }).audience;
    } catch {
      audience = undefined;
    }
    const target = typeof audience === 'string' ? appsById.get(audience) : undefined;
    if (!target) return reply.code(400).send({ error: 'the body must be {"audience": "<app id>"} naming a configured app' });
    const found = await signedIn.sessionOfToken(credential.token, appConfig);
    if ('refused' in found) return invalidToken(reply, appConfig, found.refused);
    const { claims, session } = found;
    if (target.id !== claims.aud && !target.acceptTokensFrom.includes(claims.aud)) {
      return reply.code(403).send({ error: `app "${target.id}" does not accept tokens of app "${claims.aud}" (acceptTokensFrom)` });
    }
    const authenticationToken = await authenticationTokens.issue({
      accountId: session.accountId, app: target.id, idp: claims.idp, sessionRef: session.ref, expiresAt: session.expiresAt,
    });
    return reply.header('cache-control', 'no-store').send({ authenticationToken });
  }

  /**
   * POST /.auth/login/{provider} with the tokens a native app got from the provider's own SDK
   * (Easy Auth's client-directed sign-in): checked with the provider, then a session and an
   * authentication token for this app, `{"authenticationToken", "user": {"userId"}}`.
   */
  async function clientDirectedLogin(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, providerId: string) {
    const provider = providers.get(providerId);
    if (!provider) return reply.code(404).send({ error: `there is no provider "${providerId}"` });
    if (!provider.signInWithTokens) {
      return reply.code(400).send({ error: `provider "${providerId}" does not take client-directed sign-in: its tokens cannot prove they were issued to this app; use GET /.auth/login/${providerId}` });
    }
    if (!/^application\/json\b/i.test(request.headers['content-type'] ?? '')) return reply.code(415).send({ error: 'send the provider tokens as application/json' });
    const body = await readBody(request.raw, CLIENT_TOKENS_LIMIT_BYTES);
    let parsed: unknown;
    try {
      parsed = body && JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const fields = ['id_token', 'access_token', 'access_token_secret'] as const;
    if (!parsed || typeof parsed !== 'object' || !fields.some((field) => typeof (parsed as Record<string, unknown>)[field] === 'string')) {
      return reply.code(400).send({ error: 'the body must be JSON with the provider tokens: {"id_token": …} (OpenID Connect, optionally with "access_token"), or {"access_token": …, "access_token_secret": …} (OAuth 1.0a)' });
    }
    const tokens = Object.fromEntries(fields.flatMap((field) => {
      const value = (parsed as Record<string, unknown>)[field];
      return typeof value === 'string' ? [[field, value]] : [];
    }));
    let result: SignInResult;
    try {
      result = await provider.signInWithTokens(tokens);
    } catch (error) {
      const failure = error instanceof ProviderError ? error : new ProviderError('invalid-response', (error as Error).message, { cause: error });
      request.log.warn({ provider: provider.id, kind: failure.kind, reason: failure.message }, 'client-directed sign-in refused');
      return failure.kind === 'denied'
        ? reply.code(401).send({ error: 'the provider tokens are not accepted', reason: failure.message })
        : reply.code(502).send({ error: `${provider.displayName} could not check the tokens`, reason: failure.message });
    }
    const { session } = await establishSession(provider, result, appConfig.id);
    const authenticationToken = await authenticationTokens.issue({
      accountId: session.accountId, app: appConfig.id, idp: provider.id, sessionRef: session.ref, expiresAt: session.expiresAt,
    });
    request.log.info({ provider: provider.id, account: session.accountId, app: appConfig.id }, 'signed in (client-directed)');
    return reply.header('cache-control', 'no-store').send({ authenticationToken, user: { userId: session.accountId } });
  }

  async function appHost(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string) {
    const path = pathOf(request.url);
    if (!path.startsWith('/.auth/')) return toApp(request, reply, appConfig, host);
    const clientDirected = request.method === 'POST' && /^\/\.auth\/login\/([^/]+)$/.exec(path);
    if (clientDirected) return clientDirectedLogin(request, reply, appConfig, decodeURIComponent(clientDirected[1]!));
    if (path === '/.auth/exchange') {
      return request.method === 'POST' ? exchange(request, reply, appConfig) : reply.code(405).header('allow', 'POST').send({ error: 'method not allowed' });
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply.code(405).header('allow', 'GET').send({ error: 'method not allowed' });
    if (path === '/.auth/login') return signInChoices(request, reply);
    if (path === '/.auth/login/done') return finishLogin(request, reply, appConfig, host);
    if (path === '/.auth/me') return me(request, reply, appConfig, host);
    if (path === '/.auth/logout') return logout(request, reply, appConfig, host);
    if (path === '/.auth/logout/complete') return page(reply, 200, signedOutPage());
    const login = /^\/\.auth\/login\/([^/]+)$/.exec(path);
    if (login) return startLogin(request, reply, appConfig, host, decodeURIComponent(login[1]!));
    return reply.code(404).send({ error: 'no such /.auth endpoint' });
  }

  // --- auth host ----------------------------------------------------------------------------

  /** A sign-in the provider did not complete: a page saying why in words, with a way to retry. */
  function providerFailure(request: FastifyRequest, reply: FastifyReply, provider: Provider, login: LoginRequest, error: unknown) {
    const failure = error instanceof ProviderError ? error : new ProviderError('invalid-response', (error as Error).message, { cause: error });
    request.log.warn({ provider: provider.id, kind: failure.kind, reason: failure.message }, 'sign-in failed at the provider');
    const message = failure.kind === 'denied' ? `${provider.displayName} did not sign you in (${failure.message}).`
      : failure.kind === 'unreachable' ? `${provider.displayName} could not be reached. Please try again in a moment.`
        : `${provider.displayName} answered something SignOnce could not accept.`;
    const retry = appUrl(login.host, `/.auth/login/${encodeURIComponent(provider.id)}?post_login_redirect_uri=${encodeURIComponent(login.redirect)}`);
    return page(reply, failure.kind === 'denied' ? 403 : 502, errorPage('Sign-in failed', message, retry));
  }

  async function providerStart(request: FastifyRequest, reply: FastifyReply, provider: Provider) {
    const code = queryParam(request, 'login') ?? '';
    const login = await store.consumeCode('login-request', code) as LoginRequest | undefined;
    if (!login || login.provider !== provider.id) {
      return page(reply, 400, errorPage('Sign-in expired', 'This sign-in link was already used or has expired. Start again from the app.'));
    }
    // Single sign-on: this browser signed in here already, for an app that takes part; the app
    // gets the same session without the provider being asked again (unless it asks for prompt=login).
    if (appsById.get(login.appId)?.sso && login.prompt !== 'login') {
      const existing = await ssoSessionOf(request);
      if (existing) {
        request.log.info({ account: existing.session.accountId, app: login.appId }, 'signed in through single sign-on');
        return handOff(reply, existing.secret, login);
      }
    }
    const state = await store.issueCode('login-state', login, LOGIN_TTL_MS);
    const callbackUrl = authUrl(`/.auth/login/${encodeURIComponent(provider.id)}/callback`);
    let started;
    try {
      started = await provider.begin({ callbackUrl, state, ...(login.prompt ? { prompt: login.prompt } : {}) });
    } catch (error) {
      return providerFailure(request, reply, provider, login, error);
    }
    const { url, pending } = started;
    // Binds the state to this browser (login CSRF, RFC 9700 section 4.7) and keeps the PKCE
    // verifier and nonce out of the URL.
    const browser = keyring.seal(JSON.stringify(pending), loginBinding(state));
    reply.header('set-cookie', setCookieHeader(LOGIN_COOKIE, browser, { secure, maxAgeSeconds: LOGIN_TTL_MS / 1000, path: '/.auth/login/' }));
    return redirect(reply, url);
  }

  async function providerCallback(request: FastifyRequest, reply: FastifyReply, provider: Provider) {
    const currentUrl = new URL(request.url, publicUrl.origin);
    const state = currentUrl.searchParams.get('state') ?? '';
    const login = await store.consumeCode('login-state', state) as LoginRequest | undefined;
    const browser = readCookie(request.headers.cookie, LOGIN_COOKIE);
    reply.header('set-cookie', setCookieHeader(LOGIN_COOKIE, '', { secure, maxAgeSeconds: 0, path: '/.auth/login/' }));
    let pending: Record<string, string> | undefined;
    try {
      pending = login && browser ? JSON.parse(keyring.openString(browser, loginBinding(state))) : undefined;
    } catch {
      pending = undefined;
    }
    if (!login || login.provider !== provider.id || !pending) {
      request.log.warn({ provider: provider.id, known: !!login, browserBound: !!pending }, 'sign-in callback refused: unknown, replayed or foreign state');
      return page(reply, 400, errorPage('Sign-in expired', 'This sign-in was already completed, has expired, or was started in another browser. Start again from the app.'));
    }
    let result;
    try {
      result = await provider.complete({ callbackUrl: authUrl(`/.auth/login/${encodeURIComponent(provider.id)}/callback`), currentUrl, state, pending });
    } catch (error) {
      return providerFailure(request, reply, provider, login, error);
    }
    const { secret, session } = await establishSession(provider, result, login.appId);
    if (appsById.get(login.appId)?.sso) {
      const sso = sealSessionCookie(keyring, secret, publicUrl.host);
      reply.header('set-cookie', setCookieHeader(SSO_COOKIE, sso, { secure, maxAgeSeconds: Math.floor(config.session.lifetime / 1000), path: '/.auth/' }));
    }
    request.log.info({ provider: provider.id, account: session.accountId, app: login.appId }, 'signed in');
    return handOff(reply, secret, login);
  }

  /** After a provider proved who signed in: the account (made on first sign-in), the tokens sealed, a session. */
  async function establishSession(provider: Provider, result: SignInResult, appId: string): Promise<{ secret: string; session: Session }> {
    const { account } = await store.resolveIdentity(provider.id, result.subject);
    if (Object.keys(result.tokens).length) await store.putTokens({ accountId: account.id, provider: provider.id, resource: '' }, result.tokens);
    const user: SignedInUser = { provider: provider.id, subject: result.subject, name: result.name, claims: result.claims };
    return store.createSession({ accountId: account.id, lifetimeMs: config.session.lifetime, data: { user, app: appId } });
  }

  /** The browser's live single sign-on session on the auth host, by its cookie. */
  async function ssoSessionOf(request: FastifyRequest): Promise<{ secret: string; session: Session } | undefined> {
    const cookie = readCookie(request.headers.cookie, SSO_COOKIE);
    const secret = cookie && openSessionCookie(keyring, cookie, publicUrl.host);
    const session = secret ? await store.getSession(secret) : undefined;
    return secret && session ? { secret, session } : undefined;
  }

  /** Back to the app host with a single-use code (60 s, bound to that host) for the session. */
  async function handOff(reply: FastifyReply, secret: string, login: LoginRequest) {
    const handoff: Handoff = { secret, host: login.host, redirect: login.redirect, browser: login.browser, ...(login.tokenMode ? { tokenMode: true } : {}) };
    const code = await store.issueCode('handoff', handoff, HANDOFF_TTL_MS);
    return redirect(reply, appUrl(login.host, `/.auth/login/done?code=${encodeURIComponent(code)}`));
  }

  /**
   * A callback sent as a form POST (response_mode=form_post; Apple requires it when asking for the
   * name or e-mail) answered with a redirect to the same callback as a GET. The POST comes from the
   * provider's site, so the browser leaves out the SameSite=Lax cookie binding the sign-in to it;
   * on the top-level GET that follows it sends the cookie. The parameters end up in the URL as
   * with the default response mode; the GET handler checks everything.
   */
  async function formPostCallback(request: FastifyRequest, reply: FastifyReply, path: string) {
    if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '')) {
      return page(reply, 415, errorPage('Sign-in failed', 'The provider answered in a form SignOnce does not accept.'));
    }
    const body = await readBody(request.raw, FORM_POST_LIMIT_BYTES);
    // The unread rest of a body too large is not worth reading: the connection closes after the answer.
    if (body === undefined) return page(reply.header('connection', 'close'), 413, errorPage('Sign-in failed', 'The provider\'s answer is too large.'));
    return reply.header('cache-control', 'no-store').redirect(`${path}?${new URLSearchParams(body.toString('latin1')).toString()}`, 303);
  }

  async function authHost(request: FastifyRequest, reply: FastifyReply) {
    const path = pathOf(request.url);
    const hop = /^\/\.auth\/login\/([^/]+)\/(start|callback|form)$/.exec(path);
    const provider = hop && providers.get(decodeURIComponent(hop[1]!));
    if (hop?.[2] === 'callback' && provider && request.method === 'POST') return formPostCallback(request, reply, path);
    if (hop && provider && request.method === 'GET') {
      if (hop[2] === 'start') return providerStart(request, reply, provider);
      if (hop[2] === 'callback') return providerCallback(request, reply, provider);
      if (provider.type === 'dev') {
        const state = queryParam(request, 'state') ?? '';
        return page(reply, 200, devSignInForm(`/.auth/login/${encodeURIComponent(provider.id)}/callback`, state), appOrigins);
      }
    }
    if (path === '/.auth/logout/done' && request.method === 'GET') return logoutReturn(request, reply);
    if (request.method === 'GET' || request.method === 'HEAD') {
      // Where apps and SDKs find the keys of authentication tokens (RFC 7517; OpenID Connect Discovery 1.0).
      if (path === '/.well-known/jwks.json') {
        // A key just added by `keys rotate-signing` is published before any instance signs with it.
        await authenticationTokens.reloadIfStale()
          .catch((error: unknown) => request.log.warn({ err: error }, 'could not reload the signing keys; publishing the ones loaded'));
        return reply.header('cache-control', 'public, max-age=300').send(authenticationTokens.jwks());
      }
      if (path === '/.well-known/openid-configuration') {
        return reply.header('cache-control', 'public, max-age=300').send({ issuer: config.publicUrl, jwks_uri: authUrl('/.well-known/jwks.json') });
      }
    }
    return probesOr404(request, reply);
  }

  function probesOr404(request: FastifyRequest, reply: FastifyReply) {
    const path = pathOf(request.url);
    if (path !== '/healthz' && path !== '/readyz') return reply.code(404).send({ error: 'not found' });
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply.code(405).header('allow', 'GET, HEAD').send({ error: 'method not allowed' });
    return path === '/healthz' ? healthz(request, reply) : readyz(store, request, reply);
  }

  // WebSocket upgrades bypass Fastify's routing: the same host routing, session, cross-origin check
  // (cross-site WebSocket hijacking) and headers, then a tunnel to the app.
  // Tunnels are long-lived and outside HTTP's in-flight accounting: a stop closes them (clients
  // reconnect, to another instance if there is one) instead of waiting for them.
  const tunnels = new Set<Duplex>();
  app.addHook('preClose', async () => { for (const socket of tunnels) socket.destroy(); });
  app.server.on('upgrade', (raw: IncomingMessage, socket: Duplex, head: Buffer) => {
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
    void (async () => {
      const target = route(raw.headers.host);
      if (target.kind !== 'app') return refuseUpgrade(socket, 421, 'Misdirected Request');
      const current = await signedIn.resolve(raw, target.app, target.host);
      if (current && 'refused' in current) return refuseUpgrade(socket, 401, 'Unauthorized');
      if (current && !current.byToken && crossOrigin(raw.headers, target.host)) return refuseUpgrade(socket, 403, 'Forbidden');
      if (!current && !anonymousAllowed(target.app, raw.url ?? '/')) return refuseUpgrade(socket, 401, 'Unauthorized');
      const headers = headersToApp(raw, target.host, current, true);
      tunnel(target.app.upstream, raw, headers, socket, head, (error) => app.log.warn({ err: error, app: target.app.id }, 'WebSocket upstream failed'));
    })().catch((error: unknown) => {
      app.log.error({ err: error }, 'WebSocket upgrade failed');
      refuseUpgrade(socket, 503, 'Service Unavailable');
    });
  });

  app.all('/*', async (request, reply) => {
    const target = route(request.headers.host);
    try {
      if (target.kind === 'app') return await appHost(request, reply, target.app, target.host);
      if (target.kind === 'auth') return await authHost(request, reply);
      const path = pathOf(request.url);
      if (path === '/healthz' || path === '/readyz') return await probesOr404(request, reply);
      return reply.code(421).send({ error: `no app is configured for host ${JSON.stringify(request.headers.host ?? '')}` });
    } catch (error) {
      // The store being unreachable must not look like a sign-out: 503, sessions kept.
      request.log.error({ err: error }, 'request failed');
      return page(reply, 503, errorPage('Service unavailable', 'SignOnce cannot serve this request right now. Please try again in a moment.'));
    }
  });
};
