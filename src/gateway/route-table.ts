// One route table: every endpoint declared once (host kinds, methods, path, rate limit, metrics
// label, handler). The dispatcher (routes.ts), the rate limits (routes.ts rateLimitOf) and the
// metrics labels (metrics.ts routeLabel) all read it: adding an endpoint is one entry.
// What no entry matches is the host's: the app's on app hosts (/.auth/* excepted), 404 on the
// auth host, 421 on any other host (routes.ts).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/index.ts';
import type { GatewayContext } from './context.ts';
import type { HostRoute } from './rules/hosts.ts';
import { PasswordProvider, type Provider } from '../providers/index.ts';
import { devSignInForm, signedOutPage } from './pages.ts';
import { page, queryParam } from './http.ts';
import { serveStaticScript } from './page-scripts.ts';
import type { accountRoutes } from './endpoints/account.ts';
import { ACCOUNT_ACTIONS, type accountPageRoutes } from './endpoints/account-page.ts';
import { ADMIN_ACTIONS, type adminRoutes } from './endpoints/admin.ts';
import type { externalRoutes } from './endpoints/external.ts';
import type { oidcRoutes } from './endpoints/openid-provider.ts';
import type { passwordRoutes } from './endpoints/password.ts';
import type { refreshRoutes } from './endpoints/refresh.ts';
import { clientDirectedLogin } from './endpoints/client-directed.ts';
import { finishLogin } from './endpoints/handoff.ts';
import { verify } from './endpoints/forward-auth.ts';
import { PROTECTED_RESOURCE_PATH, protectedResource } from './endpoints/protected-resource.ts';
import { formPostCallback, providerCallback, providerStart, startLogin } from './endpoints/sign-in.ts';
import { signInChoices } from './to-app.ts';
import type { signOutRoutes } from './endpoints/sign-out.ts';
import type { tokenRoutes } from './endpoints/tokens.ts';

export type HostKind = HostRoute['kind'];
export type RateLimitClass = 'sign-in' | 'refresh';
/** A path's parameters as they appear in it (still percent-encoded); an optional tail may be absent. */
export type Params = Readonly<Record<string, string | undefined>>;

/** One request, as a handler gets it. */
export interface Call {
  request: FastifyRequest;
  reply: FastifyReply;
  target: HostRoute;
  params: Params;
}

export interface Route<E> {
  /** The host kinds that serve it (rules/hosts.ts). */
  on: readonly HostKind[];
  /** The methods it takes; another method is 405 with Allow (RFC 9110 section 15.5.6). */
  methods: readonly string[] | '*';
  /**
   * Literal segments and parameters: `{name}` one segment (not empty, no `/`); at the end,
   * `{name+}` the rest of the path (not empty, `/` included) or `{/name*}` nothing or `/` and
   * anything (RFC 6570 section 3.2.6). Compared as sent: case-sensitive, not decoded, no dot
   * segments resolved, so `%2F` never splits a segment and `/a/` is not `/a`.
   */
  path: string;
  /** The rate limit per client address the path counts against, whatever the method (rate-limit.ts). */
  rateLimit?: RateLimitClass;
  /** The metrics route label: a fixed string, never a path (metrics.ts). */
  label: string;
  handler: (endpoints: E, call: Call) => unknown;
}

interface Compiled<E> {
  route: Route<E>;
  pattern: RegExp;
}

const regexLiteral = (literal: string) => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A route's path pattern as an anchored regular expression with one named group per parameter. */
export function pathPattern(path: string): RegExp {
  const source = path.replace(
    /\{(\/?)(\w+)([*+]?)\}|[^{]+/g,
    (token, slash: string | undefined, name: string | undefined, repeat: string | undefined) => {
      if (!name) return regexLiteral(token);
      if (slash && repeat === '*') return `(?:/(?<${name}>.*))?`;
      if (!slash && repeat === '+') return `(?<${name}>.+)`;
      if (!slash && !repeat) return `(?<${name}>[^/]+)`;
      throw new Error(`route ${path}: ${token} is not a parameter (use {name}, {name+} or {/name*})`);
    },
  );
  return new RegExp(`^${source}$`);
}

/** What the table says of a request: the route serving it, or the methods its path takes. */
export type Found<E> =
  | { route: Route<E>; params: Params; named: Route<E> }
  | { route?: undefined; allow: string; named: Route<E> };

export interface RouteTable<E> {
  /** The first route of `host` whose path matches: its label and rate limit are the request's, whatever its method. */
  named(host: HostKind, path: string): Route<E> | undefined;
  /** The first route of `host` matching path and method; else, if the path is known, the methods it takes. */
  find(host: HostKind, method: string, path: string): Found<E> | undefined;
}

export function routeTable<E>(routes: ReadonlyArray<Route<E>>): RouteTable<E> {
  const byHost = new Map<HostKind, Array<Compiled<E>>>(
    ['app', 'auth', 'unknown'].map((kind) => [kind as HostKind, []]),
  );
  for (const route of routes) {
    const compiled = { route, pattern: pathPattern(route.path) };
    for (const kind of route.on) byHost.get(kind)!.push(compiled);
  }
  return {
    named: (host, path) => byHost.get(host)!.find(({ pattern }) => pattern.test(path))?.route,
    find(host, method, path) {
      let named: Route<E> | undefined;
      const allow = new Set<string>();
      for (const { route, pattern } of byHost.get(host)!) {
        const match = pattern.exec(path);
        if (!match) continue;
        named ??= route;
        if (route.methods === '*' || route.methods.includes(method))
          return { route, params: match.groups ?? {}, named };
        for (const m of route.methods) allow.add(m);
      }
      return named && { allow: [...allow].join(', '), named };
    },
  };
}

// --- SignOnce's routes -------------------------------------------------------------------------

/** The endpoints the routes call, made per gateway (routes.ts). */
export interface Endpoints {
  ctx: GatewayContext;
  password: ReturnType<typeof passwordRoutes>;
  /** Undefined without `clients`: its routes are then the host's 404. */
  oidc: ReturnType<typeof oidcRoutes>;
  signOut: ReturnType<typeof signOutRoutes>;
  tokens: ReturnType<typeof tokenRoutes>;
  refresh: ReturnType<typeof refreshRoutes>;
  account: ReturnType<typeof accountRoutes>;
  accountPage: ReturnType<typeof accountPageRoutes>;
  admin: ReturnType<typeof adminRoutes>;
  external: ReturnType<typeof externalRoutes>;
  probe(call: Call, probe: 'healthz' | 'readyz' | 'metrics'): unknown;
  /** What the host answers when no route does. */
  unmatched(call: Call): unknown;
}

const GET = ['GET', 'HEAD'] as const;
const POST = ['POST'] as const;

/** An app host's route: the app and the host it was asked as. */
const onApp =
  (handle: (e: Endpoints, call: Call, app: AppConfig, host: string) => unknown) => (e: Endpoints, call: Call) =>
    call.target.kind === 'app' ? handle(e, call, call.target.app, call.target.host) : e.unmatched(call);

/** A path parameter, decoded (a malformed escape throws: answered 503 like any failure, as before). */
const param = (call: Call, name: string) => decodeURIComponent(call.params[name]!);

/** The configured provider a provider hop names, or the host's 404. */
const withProvider =
  (handle: (e: Endpoints, call: Call, provider: Provider) => unknown) => (e: Endpoints, call: Call) => {
    const provider = e.ctx.providers.get(param(call, 'provider'));
    return provider ? handle(e, call, provider) : e.unmatched(call);
  };

/** The OpenID Provider's route (only with `clients`). */
const withOidc =
  (handle: (oidc: NonNullable<Endpoints['oidc']>, call: Call, e: Endpoints) => unknown) => (e: Endpoints, call: Call) =>
    e.oidc ? handle(e.oidc, call, e) : e.unmatched(call);

/** The password form (GET shows it, POST submits it) or the dev provider's form (GET). */
const providerForm = (register: boolean) =>
  withProvider((e, call, provider) => {
    const { request, reply } = call;
    if (provider instanceof PasswordProvider) {
      return request.method === 'POST'
        ? e.password.submit(request, reply, provider, register)
        : e.password.showForm(request, reply, provider, register);
    }
    if (provider.type === 'dev' && request.method === 'GET') {
      return page(
        reply,
        200,
        devSignInForm(`/.auth/login/${encodeURIComponent(provider.id)}/callback`, queryParam(request, 'state') ?? ''),
        e.ctx.formTargets,
      );
    }
    return e.unmatched(call);
  });

// The OpenID Provider's endpoints (openid-provider/provider.ts OIDC_ROUTES), each with what follows
// it (oidc-provider also answers them with a trailing slash or an id), the longest first.
const oidcEndpoint = (name: string, rateLimit?: RateLimitClass): Route<Endpoints> => ({
  on: ['auth'],
  methods: '*',
  path: `/.auth/oidc/${name}{/rest*}`,
  rateLimit,
  label: `/.auth/oidc/${name}`,
  handler: withOidc((oidc, { request, reply }) => oidc.serve(request, reply)),
});

export const ROUTES: ReadonlyArray<Route<Endpoints>> = [
  // App hosts: Easy Auth's /.auth/* (everything else goes to the app).
  {
    on: ['app'],
    methods: GET,
    path: '/.auth/login',
    rateLimit: 'sign-in',
    label: '/.auth/login',
    handler: onApp((e, { request, reply }, app) => signInChoices(e.ctx, request, reply, app)),
  },
  {
    on: ['app'],
    methods: GET,
    path: '/.auth/login/done',
    rateLimit: 'sign-in',
    label: '/.auth/login/done',
    handler: onApp((e, { request, reply }, app, host) => finishLogin(e.ctx, request, reply, app, host)),
  },
  {
    on: ['app'],
    methods: GET,
    path: '/.auth/login/{provider}',
    rateLimit: 'sign-in',
    label: '/.auth/login/{id}',
    handler: onApp((e, call, app, host) =>
      startLogin(e.ctx, call.request, call.reply, app, host, param(call, 'provider')),
    ),
  },
  // Client-directed sign-in: the client posts a provider's token.
  {
    on: ['app'],
    methods: POST,
    path: '/.auth/login/{provider}',
    rateLimit: 'sign-in',
    label: '/.auth/login/{id}',
    handler: onApp((e, call, app) =>
      clientDirectedLogin(e.ctx, call.request, call.reply, app, param(call, 'provider')),
    ),
  },
  {
    on: ['app'],
    methods: GET,
    path: '/.auth/link/{provider}',
    rateLimit: 'sign-in',
    label: '/.auth/link/{id}',
    handler: onApp((e, call, app, host) =>
      e.account.link(call.request, call.reply, app, host, param(call, 'provider')),
    ),
  },
  {
    on: ['app'],
    methods: POST,
    path: '/.auth/unlink/{provider}',
    label: '/.auth/unlink/{id}',
    handler: onApp((e, call, app, host) =>
      e.account.unlink(call.request, call.reply, app, host, param(call, 'provider')),
    ),
  },
  {
    on: ['app'],
    methods: POST,
    path: '/.auth/external/{issuer}',
    rateLimit: 'sign-in',
    label: '/.auth/external/{id}',
    handler: onApp((e, call, app, host) =>
      e.external.exchange(call.request, call.reply, app, host, param(call, 'issuer')),
    ),
  },
  {
    on: ['app'],
    methods: POST,
    path: '/.auth/exchange',
    label: '/.auth/exchange',
    handler: onApp((e, { request, reply }, app) => e.tokens.exchange(request, reply, app)),
  },
  {
    on: ['app'],
    methods: GET,
    path: '/.auth/me',
    label: '/.auth/me',
    handler: onApp((e, { request, reply }, app, host) => e.account.me(request, reply, app, host)),
  },
  {
    on: ['app'],
    methods: GET,
    path: '/.auth/refresh',
    rateLimit: 'refresh',
    label: '/.auth/refresh',
    handler: onApp((e, { request, reply }, app, host) => e.refresh.refresh(request, reply, app, host)),
  },
  {
    on: ['app'],
    methods: GET,
    path: '/.auth/token',
    rateLimit: 'refresh',
    label: '/.auth/token',
    handler: onApp((e, { request, reply }, app, host) => e.refresh.resourceToken(request, reply, app, host)),
  },
  {
    on: ['app'],
    methods: GET,
    path: '/.auth/logout',
    label: '/.auth/logout',
    handler: onApp((e, { request, reply }, app, host) => e.signOut.logout(request, reply, app, host)),
  },
  // RFC 9728: the app as an OAuth protected resource (the authorization servers it takes tokens of).
  {
    on: ['app'],
    methods: GET,
    path: PROTECTED_RESOURCE_PATH,
    label: PROTECTED_RESOURCE_PATH,
    handler: onApp((e, { reply }, app, host) => protectedResource(e.ctx, reply, app, host)),
  },
  {
    on: ['app'],
    methods: GET,
    path: '/.auth/logout/complete',
    label: '/.auth/logout/complete',
    handler: (_e, { reply }) => page(reply, 200, signedOutPage()),
  },

  // The account page is the auth host's; an app host sends its visitors there.
  {
    on: ['app'],
    methods: GET,
    path: '/.auth/account',
    label: '/.auth/account',
    handler: (e, { reply }) => e.accountPage.fromAppHost(reply),
  },

  // Forward-auth: a trusted proxy asks whether a request to an app it carries may pass, on any
  // host (Traefik sends SignOnce's own; nginx, Caddy and Envoy the app's), with any method (Envoy
  // sends the original one, and the original path after the prefix).
  {
    on: ['app', 'auth', 'unknown'],
    methods: '*',
    path: '/.auth/verify{/rest*}',
    label: '/.auth/verify',
    handler: (e, { request, reply }) => verify(e.ctx, request, reply),
  },

  // The auth host: the providers' hops, the OpenID Provider, the keys.
  {
    on: ['auth'],
    methods: ['GET'],
    path: '/.auth/login/{provider}/start',
    rateLimit: 'sign-in',
    label: '/.auth/login/{id}/start',
    handler: withProvider((e, { request, reply }, provider) => providerStart(e.ctx, request, reply, provider)),
  },
  {
    on: ['auth'],
    methods: ['GET'],
    path: '/.auth/login/{provider}/callback',
    rateLimit: 'sign-in',
    label: '/.auth/login/{id}/callback',
    handler: withProvider((e, { request, reply }, provider) => providerCallback(e.ctx, request, reply, provider)),
  },
  // A provider's form_post answer (OpenID Connect Core section 3.1.2.5 response_mode=form_post).
  {
    on: ['auth'],
    methods: POST,
    path: '/.auth/login/{provider}/callback',
    rateLimit: 'sign-in',
    label: '/.auth/login/{id}/callback',
    handler: withProvider((_e, { request, reply }) => formPostCallback(request, reply, request.url.split('?', 1)[0]!)),
  },
  {
    on: ['auth'],
    methods: ['GET', 'POST'],
    path: '/.auth/login/{provider}/form',
    rateLimit: 'sign-in',
    label: '/.auth/login/{id}/form',
    handler: providerForm(false),
  },
  {
    on: ['auth'],
    methods: ['GET', 'POST'],
    path: '/.auth/login/{provider}/register',
    rateLimit: 'sign-in',
    label: '/.auth/login/{id}/register',
    handler: providerForm(true),
  },
  // The second step of a local sign-in (a code from an authenticator app, or setting one up).
  {
    on: ['auth'],
    methods: POST,
    path: '/.auth/login/{provider}/second-factor',
    rateLimit: 'sign-in',
    label: '/.auth/login/{id}/second-factor',
    handler: withProvider((e, call, provider) =>
      provider instanceof PasswordProvider
        ? e.password.secondFactor(call.request, call.reply, provider)
        : e.unmatched(call),
    ),
  },
  // A sign-in by a passkey alone, from the sign-in form.
  {
    on: ['auth'],
    methods: POST,
    path: '/.auth/login/{provider}/passkey',
    rateLimit: 'sign-in',
    label: '/.auth/login/{id}/passkey',
    handler: withProvider((e, call, provider) =>
      provider instanceof PasswordProvider ? e.password.passkey(call.request, call.reply, provider) : e.unmatched(call),
    ),
  },
  // The scripts of the pages with passkey forms (page-scripts.ts).
  {
    on: ['auth'],
    methods: GET,
    path: '/.auth/static/{file}',
    label: '/.auth/static/{file}',
    handler: (e, call) => serveStaticScript(call.reply, param(call, 'file')) ?? e.unmatched(call),
  },
  {
    on: ['auth'],
    methods: ['GET'],
    path: '/.auth/logout/done',
    label: '/.auth/logout/done',
    handler: (e, { request, reply }) => e.signOut.logoutReturn(request, reply),
  },
  // The account page (endpoints/account-page.ts): the page, signing in to it, linking, its forms.
  {
    on: ['auth'],
    methods: GET,
    path: '/.auth/account',
    label: '/.auth/account',
    handler: (e, { request, reply }) => e.accountPage.show(request, reply),
  },
  {
    on: ['auth'],
    methods: ['GET'],
    path: '/.auth/account/login/{provider}',
    rateLimit: 'sign-in',
    label: '/.auth/account/login/{id}',
    handler: (e, call) => e.accountPage.login(call.reply, param(call, 'provider')),
  },
  {
    on: ['auth'],
    methods: ['GET'],
    path: '/.auth/account/link/{provider}',
    rateLimit: 'sign-in',
    label: '/.auth/account/link/{id}',
    handler: (e, call) => e.accountPage.link(call.request, call.reply, param(call, 'provider')),
  },
  {
    on: ['auth'],
    methods: GET,
    path: '/.auth/account/two-step',
    label: '/.auth/account/two-step',
    handler: (e, { request, reply }) => e.accountPage.twoStep(request, reply),
  },
  ...ACCOUNT_ACTIONS.map(
    (action): Route<Endpoints> => ({
      on: ['auth'],
      methods: POST,
      path: `/.auth/account/${action}`,
      // These check a password or a code: they count as sign-in attempts.
      ...(action === 'password' || action.startsWith('two-step') || action === 'passkeys/add'
        ? { rateLimit: 'sign-in' as const }
        : {}),
      label: `/.auth/account/${action}`,
      handler: (e, { request, reply }) => e.accountPage.act(request, reply, action),
    }),
  ),
  // The admin console (endpoints/admin.ts): off (404) unless admin.access lists rules.
  {
    on: ['auth'],
    methods: GET,
    path: '/.auth/admin',
    label: '/.auth/admin',
    handler: (e, { request, reply }) => e.admin.dashboard(request, reply),
  },
  {
    on: ['auth'],
    methods: ['GET'],
    path: '/.auth/admin/login/{provider}',
    rateLimit: 'sign-in',
    label: '/.auth/admin/login/{id}',
    handler: (e, call) => e.admin.login(call.request, call.reply, param(call, 'provider')),
  },
  {
    on: ['auth'],
    methods: GET,
    path: '/.auth/admin/users',
    label: '/.auth/admin/users',
    handler: (e, { request, reply }) => e.admin.users(request, reply),
  },
  {
    on: ['auth'],
    methods: GET,
    path: '/.auth/admin/users/{account}',
    label: '/.auth/admin/users/{id}',
    handler: (e, call) => e.admin.user(call.request, call.reply, param(call, 'account')),
  },
  ...ADMIN_ACTIONS.map(
    (action): Route<Endpoints> => ({
      on: ['auth'],
      methods: POST,
      path: `/.auth/admin/users/{account}/${action}`,
      label: `/.auth/admin/users/{id}/${action}`,
      handler: (e, call) => e.admin.act(call.request, call.reply, param(call, 'account'), action),
    }),
  ),
  {
    on: ['auth'],
    methods: GET,
    path: '/.auth/admin/audit',
    label: '/.auth/admin/audit',
    handler: (e, { request, reply }) => e.admin.audit(request, reply),
  },
  // SignOnce's interactions of the OpenID Provider (its sign-in and consent pages).
  {
    on: ['auth'],
    methods: '*',
    path: '/.auth/oidc/interaction/{uid}',
    rateLimit: 'sign-in',
    label: '/.auth/oidc/interaction',
    handler: withOidc((oidc, { request, reply, params }) => oidc.interaction(request, reply, params.uid!, undefined)),
  },
  {
    on: ['auth'],
    methods: '*',
    path: '/.auth/oidc/interaction/{uid}/{action+}',
    rateLimit: 'sign-in',
    label: '/.auth/oidc/interaction',
    handler: withOidc((oidc, { request, reply, params }) =>
      oidc.interaction(request, reply, params.uid!, params.action),
    ),
  },
  oidcEndpoint('token/revocation'),
  oidcEndpoint('token/introspection'),
  oidcEndpoint('session/end/confirm'),
  oidcEndpoint('session/end'),
  oidcEndpoint('token', 'refresh'),
  oidcEndpoint('auth', 'sign-in'),
  oidcEndpoint('me'),
  // The rest of /.auth/oidc/ is oidc-provider's to answer (its own 404s).
  {
    on: ['auth'],
    methods: '*',
    path: '/.auth/oidc/{rest+}',
    label: 'other',
    handler: withOidc((oidc, { request, reply }) => oidc.serve(request, reply)),
  },
  // A client's fetch of the user's provider token (scope provider_tokens).
  {
    on: ['auth'],
    methods: ['GET'],
    path: '/.auth/token',
    rateLimit: 'refresh',
    label: '/.auth/token',
    handler: withOidc((oidc, { request, reply }, e) => e.refresh.clientProviderToken(request, reply, oidc.grantOf)),
  },
  {
    on: ['auth'],
    methods: GET,
    path: '/.well-known/jwks.json',
    label: '/.well-known/jwks.json',
    handler: (e, { request, reply }) => e.tokens.keySet(request, reply),
  },
  // The OpenID Provider's discovery document with `clients`, else SignOnce's (the keys' issuer).
  {
    on: ['auth'],
    methods: GET,
    path: '/.well-known/openid-configuration',
    label: '/.well-known/openid-configuration',
    handler: (e, { request, reply }) => (e.oidc ? e.oidc.serve(request, reply) : e.tokens.discovery(reply)),
  },

  // Probes, on the auth host and hosts of no app (an app's own /healthz is the app's).
  {
    on: ['auth', 'unknown'],
    methods: GET,
    path: '/healthz',
    label: '/healthz',
    handler: (e, call) => e.probe(call, 'healthz'),
  },
  {
    on: ['auth', 'unknown'],
    methods: GET,
    path: '/readyz',
    label: '/readyz',
    handler: (e, call) => e.probe(call, 'readyz'),
  },
  {
    on: ['auth', 'unknown'],
    methods: '*',
    path: '/metrics',
    label: '/metrics',
    handler: (e, call) => e.probe(call, 'metrics'),
  },
];

export const routes = routeTable(ROUTES);
