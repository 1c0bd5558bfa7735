// What every route module of the gateway works with: the dependencies it was started with and
// what follows from the configuration, made once.
import type { IncomingMessage } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { AppConfig, Config } from '../config/index.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { Provider } from '../providers/index.ts';
import type { AuthenticationTokens } from '../session/authentication-tokens.ts';
import type { SessionDevice, Store } from '../store/index.ts';
import { AccessControl } from '../access/control.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { MembershipReader } from '../access/memberships.ts';
import { Accounts } from '../accounts/accounts.ts';
import { LocalAccounts } from '../accounts/local-accounts.ts';
import { SecondFactors } from '../accounts/second-factor.ts';
import { Passkeys } from '../accounts/passkeys.ts';
import { PASSKEY_SCRIPTS, pageScripts, type PageScript } from './page-scripts.ts';
import { TokenRefresher } from '../refresh/refresher.ts';
import { LastSeen } from '../session/last-seen.ts';
import { SignedInResolver } from '../session/signed-in.ts';
import { FreshTokens } from '../session/fresh-tokens.ts';
import { SignInCompletion } from '../session/sign-in.ts';
import { ownCookieNames } from './endpoints/login-binding.ts';
import { UpstreamProxy } from './proxy.ts';
import { clientAddress, trustedProxyMatcher } from './rules/forwarded.ts';
import { hostRouter, type HostRoute } from './rules/hosts.ts';
import { GatewayMetrics } from './metrics.ts';
import { RateLimiter } from './rate-limit.ts';
import { formActionSource } from './pages.ts';

const limiter = ({ limit, window }: { limit: number; window: number }) => new RateLimiter({ limit, windowMs: window });

export interface GatewayDeps {
  readonly config: Config;
  readonly store: Store;
  readonly keyring: Keyring;
  readonly providers: ReadonlyMap<string, Provider>;
  readonly authenticationTokens: AuthenticationTokens;
  /** Made by the gateway when absent; given when the store reports into it too. */
  readonly metrics?: GatewayMetrics;
}

export interface GatewayContext extends GatewayDeps {
  readonly metrics: GatewayMetrics;
  readonly publicUrl: URL;
  /** Cookies get `Secure` when the auth host is https. */
  readonly secure: boolean;
  readonly appsById: ReadonlyMap<string, AppConfig>;
  /** Which app a Host header names, or the auth host, or neither (rules/hosts.ts). */
  hostOf(hostHeader: string | undefined): HostRoute;
  /**
   * Where the submission of a sign-in form may end up, after its redirects: every app host, the
   * URLs apps allow after sign-in, OpenID clients' redirect URIs (CSP form-action sources: the
   * directive governs those redirects too, CSP Level 3 6.3.1.3, and Chromium enforces it).
   */
  readonly formTargets: readonly string[];
  readonly signedIn: SignedInResolver;
  /** Each use of a session, for "last seen" and session.idleTimeout (one per instance). */
  readonly lastSeen: LastSeen;
  /** The provider tokens of a signed-in account, refreshed ahead of their expiry. */
  readonly freshTokens: FreshTokens;
  /** What a sign-in does once a provider proved who signed in (session/sign-in.ts). */
  readonly signInCompletion: SignInCompletion;
  /** SignOnce's own cookies, which apps never see (under either of their names). */
  readonly ownCookies: ReadonlySet<string>;
  /** Forwards requests to apps; routes.ts stops and closes it with the server. */
  readonly proxy: UpstreamProxy;
  readonly refresher: TokenRefresher;
  /** Each app's and OpenID client's access rules, and the subject they read (src/access). */
  readonly access: AccessControl;
  readonly accounts: Accounts;
  /** Second factors of local accounts (TOTP, recovery codes): one per gateway, throttled as one. */
  readonly secondFactors: SecondFactors;
  /** Passkeys of local accounts; relying-party id the auth host's name, origin the auth host's. */
  readonly passkeys: Passkeys;
  /** The scripts of pages with passkey forms, as they name them (page-scripts.ts). */
  readonly passkeyScripts: readonly PageScript[];
  /** Local (password) accounts: one per gateway, so attempts at a username are throttled as one. */
  readonly localAccounts: LocalAccounts;
  readonly log: FastifyBaseLogger;
  /** The audit log (src/audit); gateway/audit.ts adds each request's origin. */
  readonly audit: AuditLog;
  /** The providers an app's sign-in offers (`apps[].providers`; every one when absent), in config order. */
  signInProviders(appConfig: AppConfig): Provider[];
  /** The provider `id` if the app's sign-in offers it. */
  signInProvider(appConfig: AppConfig, id: string): Provider | undefined;
  /** A URL on an app host, in the scheme of publicUrl. */
  appUrl(host: string, path: string): string;
  /** A URL on the auth host. */
  authUrl(path: string): string;
  /** Whether a connection comes from one of `trustedProxies`. */
  fromTrustedProxy(address: string): boolean;
  /** The client's address, through trusted proxies (forwarded.ts clientAddress). */
  clientAddressOf(request: IncomingMessage): string;
  /** The device a request comes from, as a new session records it: its User-Agent and client address. */
  clientDeviceOf(request: IncomingMessage): SessionDevice;
  /** Where a checked redirect target (see redirects.ts) leads from the auth host: a path on `host`, or the allowed URL itself. */
  appTarget(host: string, target: string): string;
  /** `rateLimits`: sign-in endpoints per client address, refresh callers per address and per account (grants: the refresher's). */
  readonly rateLimits: {
    readonly signIn: RateLimiter;
    readonly refreshPerAddress: RateLimiter;
    readonly refreshPerAccount: RateLimiter;
  };
}

export function gatewayContext(deps: GatewayDeps, log: FastifyBaseLogger): GatewayContext {
  const publicUrl = new URL(deps.config.publicUrl);
  const fromTrustedProxy = trustedProxyMatcher(deps.config.trustedProxies);
  const metrics = deps.metrics ?? new GatewayMetrics();
  const audit = new AuditLog(deps.store, log);
  const clientAddressOf = (request: IncomingMessage) =>
    clientAddress(request.socket.remoteAddress ?? '', request.headers['x-forwarded-for'], fromTrustedProxy);
  // Grants asked of providers per (account, provider, resource), whoever asks (src/refresh).
  const refreshGrants = limiter(deps.config.rateLimits.refresh.providerGrants);
  const refresher = new TokenRefresher(
    deps.store,
    undefined,
    ({ accountId, provider, resource }, outcome, reason) => {
      metrics.refreshes.inc({ provider, outcome });
      if (outcome !== 'ok')
        audit.recordRepeated(`refresh-failed\n${accountId}\n${provider}\n${resource}\n${outcome}`, {
          kind: 'refresh-failed',
          outcome,
          accountId,
          actor: 'system',
          detail: { provider, resource: resource || undefined, reason },
        });
    },
    (key) => refreshGrants.take(key),
  );
  const accounts = new Accounts(deps.store, deps.config);
  const freshTokens = new FreshTokens({ ...deps, refresher });
  const memberships = new MembershipReader({ ...deps, refresher, log });
  const access = new AccessControl(deps.config, memberships);
  const lastSeen = new LastSeen({ store: deps.store, idleTimeoutMs: deps.config.session.idleTimeout, log });
  return {
    ...deps,
    metrics,
    publicUrl,
    secure: publicUrl.protocol === 'https:',
    appsById: new Map(deps.config.apps.map((a) => [a.id, a])),
    hostOf: hostRouter(deps.config),
    formTargets: [
      ...new Set([
        // A host given without a port is routed on any port (rules/hosts.ts): so is the form's redirect.
        ...deps.config.apps.flatMap((a) =>
          a.hosts.map((host) => `${publicUrl.protocol}//${host}${host.includes(':') ? '' : ':*'}`),
        ),
        ...[
          ...deps.config.apps.flatMap((a) => a.allowedExternalRedirectUrls),
          ...deps.config.clients.flatMap((c) => c.redirectUris),
        ].map(formActionSource),
      ]),
    ],
    signedIn: new SignedInResolver({ ...deps, freshTokens, access, lastSeen }),
    lastSeen,
    freshTokens,
    signInCompletion: new SignInCompletion({
      store: deps.store,
      accounts,
      sessionLifetimeMs: deps.config.session.lifetime,
      log,
      memberships,
    }),
    ownCookies: ownCookieNames(deps.config.session.cookieName),
    proxy: new UpstreamProxy(),
    refresher,
    access,
    accounts,
    localAccounts: new LocalAccounts(deps.store),
    secondFactors: new SecondFactors(deps.store, { issuer: publicUrl.host }),
    passkeys: new Passkeys(deps.store, {
      rpId: deps.config.passkeys.rpId ?? publicUrl.hostname,
      rpName: publicUrl.host,
      origin: publicUrl.origin,
    }),
    passkeyScripts: pageScripts(publicUrl.origin, PASSKEY_SCRIPTS),
    log,
    audit,
    signInProviders: (appConfig) =>
      [...deps.providers.values()].filter((p) => !appConfig.providers || appConfig.providers.includes(p.id)),
    signInProvider: (appConfig, id) =>
      !appConfig.providers || appConfig.providers.includes(id) ? deps.providers.get(id) : undefined,
    appUrl: (host, path) => `${publicUrl.protocol}//${host}${path}`,
    authUrl: (path) => `${publicUrl.origin}${path}`,
    fromTrustedProxy,
    clientAddressOf,
    clientDeviceOf: (request) => ({ userAgent: request.headers['user-agent'], address: clientAddressOf(request) }),
    appTarget: (host, target) => (target.startsWith('/') ? `${publicUrl.protocol}//${host}${target}` : target),
    rateLimits: {
      signIn: limiter(deps.config.rateLimits.signIn.perAddress),
      refreshPerAddress: limiter(deps.config.rateLimits.refresh.perAddress),
      refreshPerAccount: limiter(deps.config.rateLimits.refresh.perAccount),
    },
  };
}
