// SignOnce as an OpenID Provider for apps that speak OpenID Connect (`clients`), built on
// oidc-provider (certified), never by hand. What is SignOnce's here: storage through the Store
// (adapter.ts), accounts and their claims, pairwise subjects, the signing key of authentication
// tokens, the routes under /.auth/oidc/ (so the SSO cookie, path /.auth/, reaches them), and one
// login check: an OpenID session lives only while SignOnce's single sign-on session does.
import Provider, {
  errors,
  interactionPolicy,
  type ClientMetadata,
  type Configuration,
  type KoaContextWithOIDC,
  type ResourceServer,
} from 'oidc-provider';
import type { AppConfig, Config, OidcClientConfig } from '../config/index.ts';
import type { AccessControl } from '../access/control.ts';
import type { Accounts, IdentityProfile } from '../accounts/accounts.ts';
import type { AuthenticationTokens } from '../session/authentication-tokens.ts';
import type { Store } from '../store/index.ts';
import { storeAdapter } from './adapter.ts';
import { AppAccessTokenVerifier, type Actor } from '../session/app-access-tokens.ts';
import { DPOP_ALGORITHMS } from './dpop.ts';
import { MULTI_FACTOR_ACR, loginRequirements } from './login-age.ts';
import { appOfResource } from './resources.ts';
import { TOKEN_EXCHANGE_GRANT, TOKEN_EXCHANGE_PARAMETERS, tokenExchangeHandler } from './token-exchange.ts';

/** Where oidc-provider's endpoints live on the auth host (discovery stays at the root, with the issuer). */
export const OIDC_ROUTES = {
  authorization: '/.auth/oidc/auth',
  token: '/.auth/oidc/token',
  userinfo: '/.auth/oidc/me',
  end_session: '/.auth/oidc/session/end',
  revocation: '/.auth/oidc/token/revocation',
  introspection: '/.auth/oidc/token/introspection',
  // SignOnce serves the key set (with keys retired but still valid) itself.
  jwks: '/.well-known/jwks.json',
} as const;
export const INTERACTION_PREFIX = '/.auth/oidc/interaction/';

const TTL_SECONDS = {
  AccessToken: 3600,
  ClientCredentials: 3600,
  AuthorizationCode: 60,
  IdToken: 3600,
  Interaction: 600,
  RefreshToken: 14 * 86_400,
  Grant: 14 * 86_400,
} as const;
const CLAIMS = {
  // acr and amr (RFC 8176): how the sign-in behind an ID token authenticated, in every ID token
  // (oidc-provider puts them in only when a client asks for them otherwise).
  openid: ['sub', 'acr', 'amr'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username', 'picture'],
  email: ['email', 'email_verified'],
};
const PROFILE_CLAIMS = new Set([...CLAIMS.profile, ...CLAIMS.email]);

/** What SignOnce lends the provider: whose SSO session a request carries, and what ends one. */
export interface SsoSessions {
  /** The account of the SSO session in this Cookie header, or undefined. */
  accountOf(cookieHeader: string | undefined): Promise<string | undefined>;
  /** RP-initiated logout ended the OpenID session: end SignOnce's too (single logout). */
  endedBy(cookieHeader: string | undefined): Promise<void>;
}

export interface OidcProviderDeps {
  readonly config: Config;
  readonly store: Store;
  readonly accounts: Accounts;
  /** Each client's access rules (`clients[].access`). */
  readonly access: AccessControl;
  readonly authenticationTokens: AuthenticationTokens;
  readonly sso: SsoSessions;
  /** Renders the confirmation page of RP-initiated logout around oidc-provider's form. */
  readonly logoutPage: (form: string) => string;
  /** The headers of that page (its form ends at a client's post-logout redirect URI). */
  readonly logoutHeaders: Readonly<Record<string, string>>;
  /** The page shown after a sign-out that names no post-logout redirect URI. */
  readonly signedOutPage: () => string;
  readonly onError: (error: unknown) => void;
  /** A client's access rules refused an account (logged by the gateway; never a token). */
  readonly onRefusal: (details: { client: string; account: string; reason: string }) => void;
}

/** The `sub` a pairwise client sees: the pairwise id of the account for that client. */
const pairwiseSubject = (tokens: AuthenticationTokens, accountId: string, clientId: string) =>
  tokens.pairwiseId(accountId, `oidc-client:${clientId}`);

/** How a client proves itself at the token endpoint (RFC 7591 section 2), with its secret or keys. */
function clientAuthentication(client: OidcClientConfig): ClientMetadata {
  if (client.public) return { client_id: client.id, token_endpoint_auth_method: 'none' };
  if (client.secret !== undefined)
    return { client_id: client.id, client_secret: client.secret, token_endpoint_auth_method: 'client_secret_basic' };
  return {
    client_id: client.id,
    token_endpoint_auth_method: 'private_key_jwt',
    ...(client.jwks ? { jwks: client.jwks as ClientMetadata['jwks'] } : { jwks_uri: client.jwksUrl! }),
  };
}

/** The OAuth grant types of a client's `grants`: refresh tokens come with sign-ins that may ask offline_access. */
function grantTypes(client: OidcClientConfig): string[] {
  return client.grants.flatMap((grant) => {
    if (grant === 'token_exchange') return [TOKEN_EXCHANGE_GRANT];
    if (grant === 'authorization_code' && client.scopes.includes('offline_access'))
      return ['authorization_code', 'refresh_token'];
    return [grant];
  });
}

/** A configured client as oidc-provider registers it. */
export function clientMetadata(client: OidcClientConfig, idTokenAlg: string): ClientMetadata {
  return {
    ...clientAuthentication(client),
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    ...(client.backchannelLogoutUri
      ? { backchannel_logout_uri: client.backchannelLogoutUri, backchannel_logout_session_required: true }
      : {}),
    grant_types: grantTypes(client),
    // A service client (no authorization_code) has no authorization requests, hence no redirect URIs.
    response_types: client.grants.includes('authorization_code') ? ['code'] : [],
    scope: client.scopes.join(' '),
    subject_type: client.subjectType,
    id_token_signed_response_alg: idTokenAlg,
    'signonce:firstParty': client.firstParty,
  } as ClientMetadata;
}

/** The OpenID claims of an account, from the profile of its first described identity. */
export function accountClaims(accountId: string, profile: IdentityProfile | undefined): Record<string, unknown> {
  const claims: Record<string, unknown> = { sub: accountId };
  for (const { typ, val } of profile?.claims ?? []) {
    if (!PROFILE_CLAIMS.has(typ) || typ in claims) continue;
    claims[typ] = typ === 'email_verified' ? val === 'true' : val;
  }
  return claims;
}

export class OpenIdProvider {
  readonly #deps: OidcProviderDeps;
  #built: { kid: string; provider: Promise<Provider> } | undefined;

  constructor(deps: OidcProviderDeps) {
    this.#deps = deps;
  }

  /**
   * A SignOnce session of the account ended (a sign-out anywhere): its OpenID sessions end too,
   * and clients with a back-channel logout URI are told (OpenID Connect Back-Channel Logout 1.0).
   * Every OpenID session of the account ends — more than the one browser's: never less.
   */
  async endAccountSessions(accountId: string): Promise<void> {
    const sessions = await this.#deps.store.takeOidcArtifactsOfAccount('Session', accountId);
    if (sessions.length === 0) return;
    const provider = await this.provider();
    for (const session of sessions) {
      const authorizations = (session.authorizations ?? {}) as Record<string, { sid?: string }>;
      for (const [clientId, { sid }] of Object.entries(authorizations)) {
        const client = await provider.Client.find(clientId);
        if (!client?.backchannelLogoutUri || !sid) continue;
        const sub =
          client.subjectType === 'pairwise'
            ? pairwiseSubject(this.#deps.authenticationTokens, accountId, clientId)
            : accountId;
        // oidc-provider's Client#backchannelLogout (missing from its type definitions).
        await (client as unknown as { backchannelLogout(sub: string, sid: string): Promise<void> })
          .backchannelLogout(sub, sid)
          .catch(this.#deps.onError);
      }
    }
  }

  /**
   * The provider, signing with the current key of authentication tokens (as the gateway has it
   * loaded), built again when that key changes.
   */
  provider(): Promise<Provider> {
    const key = this.#deps.authenticationTokens.signingKey();
    if (this.#built?.kid !== key.kid)
      this.#built = {
        kid: key.kid,
        provider: this.#build(key.privateJwk as Record<string, unknown>, key.kid, key.alg),
      };
    return this.#built.provider;
  }

  async #build(privateJwk: Record<string, unknown>, kid: string, alg: string): Promise<Provider> {
    const { config, store, accounts, access, authenticationTokens, sso, logoutPage, logoutHeaders, signedOutPage } =
      this.#deps;
    /**
     * Why the client's access rules refuse the account, or undefined. Rules read the identity the
     * provider describes the account with (its ID token claims come from the same one).
     */
    const refusal = async (clientId: string, accountId: string): Promise<string | undefined> => {
      if (!access.clientPolicy(clientId)) return undefined;
      const described = await accounts.described(accountId);
      const decision = await access.forClient(clientId, accountId, {
        provider: described?.identity.provider ?? '',
        claims: described?.profile.claims ?? [],
      });
      if (decision.allowed) return undefined;
      this.#deps.onRefusal({ client: clientId, account: accountId, reason: decision.reason });
      return decision.reason;
    };
    const cookieKey = (await store.instanceSecret('oidc-cookies')).toString('base64url');

    // Access tokens for SignOnce's apps (RFC 8707 resource indicators): RFC 9068 JWTs, `aud` the
    // app's id, with the app's scopes; only for the apps a client lists in `resources`.
    const scheme = new URL(config.publicUrl).protocol;
    const resourcesOf = (clientId: string) => config.clients.find((c) => c.id === clientId)?.resources ?? [];
    const resourceServerInfo = (app: AppConfig): ResourceServer => ({
      scope: app.scopes.join(' '),
      audience: app.id,
      accessTokenFormat: 'jwt',
      accessTokenTTL: TTL_SECONDS.AccessToken,
      jwt: { sign: { alg } } as ResourceServer['jwt'],
    });
    // The `act` claim of tokens being issued by token exchange (token-exchange.ts).
    const actors = new WeakMap<object, Actor>();

    // The login prompt also asks when SignOnce's SSO session has ended (or is another account's):
    // a sign-out anywhere ends the OpenID session too.
    const policy = interactionPolicy.base();
    const login = policy.get('login')!;
    login.checks.add(
      new interactionPolicy.Check(
        'sso_session_ended',
        'End-User authentication is required: the single sign-on session has ended',
        'login_required',
        async (ctx) => {
          const accountId = await sso.accountOf(ctx.req.headers.cookie);
          return accountId && accountId === ctx.oidc.session?.accountId
            ? interactionPolicy.Check.NO_NEED_TO_PROMPT
            : interactionPolicy.Check.REQUEST_PROMPT;
        },
      ),
    );
    // So does a client's acr_values naming a second factor the OpenID session has not proved.
    login.checks.add(
      new interactionPolicy.Check(
        'multi_factor_required',
        'End-User authentication with a second factor is required',
        'login_required',
        (ctx) =>
          loginRequirements(ctx.oidc.params ?? {}).multiFactor && ctx.oidc.session?.acr !== MULTI_FACTOR_ACR
            ? interactionPolicy.Check.REQUEST_PROMPT
            : interactionPolicy.Check.NO_NEED_TO_PROMPT,
      ),
    );

    const configuration: Configuration = {
      adapter: storeAdapter(store),
      clients: config.clients.map((client) => clientMetadata(client, alg)),
      extraClientMetadata: { properties: ['signonce:firstParty'] },
      jwks: { keys: [{ ...privateJwk, kid, alg, use: 'sig' } as never] },
      cookies: { keys: [cookieKey], long: { signed: true }, short: { signed: true } },
      routes: OIDC_ROUTES,
      claims: CLAIMS,
      // `acr` (and `amr`, RFC 8176) in ID tokens: how the sign-in behind them authenticated.
      acrValues: [MULTI_FACTOR_ACR],
      // provider_tokens: the client may fetch the user's provider token at GET /.auth/token.
      scopes: ['openid', 'profile', 'email', 'offline_access', 'provider_tokens'],
      subjectTypes: ['public', 'pairwise'],
      pairwiseIdentifier: async (_ctx, accountId, client) =>
        pairwiseSubject(authenticationTokens, accountId, client.clientId),
      pkce: { required: () => true },
      rotateRefreshToken: true,
      responseTypes: ['code'],
      ttl: { ...TTL_SECONDS, Session: Math.floor(config.session.lifetime / 1000) },
      interactions: { url: (_ctx, interaction) => `${INTERACTION_PREFIX}${interaction.uid}`, policy },
      // A disabled (or deleted) account is found no more: its refresh_token grants, userinfo and
      // sign-ins fail whatever token a client still holds.
      // An authorization is refused by the client's access rules before any code is issued (the
      // client gets access_denied at its redirect URI), whether or not the user is asked anything.
      loadExistingGrant: async (ctx) => {
        const reason = ctx.oidc.account && (await refusal(ctx.oidc.client!.clientId, ctx.oidc.account.accountId));
        if (reason) throw new errors.AccessDenied(reason);
        const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
        return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
      },
      // A disabled (or deleted) account is found no more: its refresh_token grants, userinfo and
      // sign-ins fail whatever token a client still holds. So is one the client's access rules now
      // refuse (refresh_token grants, userinfo): a user removed from a group loses the client's access.
      findAccount: async (ctx, accountId) => {
        if (!(await accounts.enabled(accountId))) return undefined;
        if (ctx.oidc.route !== 'authorization' && ctx.oidc.route !== 'resume' && ctx.oidc.client)
          if (await refusal(ctx.oidc.client.clientId, accountId)) return undefined;
        return {
          accountId,
          claims: async () =>
            accountClaims(accountId, (await accounts.described(accountId))?.profile) as { sub: string },
        };
      },
      clientBasedCORS: (_ctx, origin, client) =>
        (client.redirectUris ?? []).some((uri) => URL.canParse(uri) && new URL(uri).origin === origin),
      // DPoP (RFC 9449): a client that sends a proof to the token endpoint gets tokens bound to its
      // key; oidc-provider checks proofs at its own endpoints, the gateway at GET /.auth/token
      // (dpop.ts). mTLS binding stays off (oidc-provider's default): nothing could check it.
      enabledJWA: { dPoPSigningAlgValues: DPOP_ALGORITHMS },
      features: {
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          // Without a resource a token is the userinfo endpoint's (opaque), as before.
          defaultResource: () => undefined,
          getResourceServerInfo: (_ctx, indicator, client) => {
            const app = appOfResource(indicator, config.apps, scheme);
            if (!app)
              throw new errors.InvalidTarget(
                `${indicator} is not the URL of an app of this SignOnce (${scheme}//one of its hosts)`,
              );
            if (!resourcesOf(client.clientId).includes(app.id))
              throw new errors.InvalidTarget(
                `client ${client.clientId} may not get tokens for app "${app.id}" (its resources)`,
              );
            return resourceServerInfo(app);
          },
        },
        dPoP: { enabled: true },
        devInteractions: { enabled: false },
        revocation: { enabled: true },
        introspection: { enabled: true },
        userinfo: { enabled: true },
        backchannelLogout: { enabled: true },
        rpInitiatedLogout: {
          enabled: true,
          logoutSource: async (ctx, form) => {
            ctx.set(logoutHeaders);
            ctx.body = logoutPage(form);
          },
          // SignOnce's own page, with its headers (oidc-provider's loads a web font and has no CSP).
          postLogoutSuccessSource: async (ctx) => {
            ctx.set(logoutHeaders);
            ctx.body = signedOutPage();
          },
        },
      },
      // oidc-provider refuses outgoing requests to private and loopback addresses (SSRF). Its only
      // outgoing requests here go to back-channel logout URIs the operator configured, which are
      // often on the organisation's private network: those are allowed.
      fetch: (url, options) => fetch(url, { ...options, dispatcher: undefined } as RequestInit),
      extraTokenClaims: (_ctx, token) => {
        const act = actors.get(token);
        return act ? { act } : undefined;
      },
      formats: {
        customizers: {
          // An app's token names the account as authentication tokens do (its id, the same in every
          // app), whatever subject type the client has: pairwise ids are for what clients see.
          jwt: (_ctx, token, jwt) => {
            if ('accountId' in token && token.accountId) jwt.payload.sub = token.accountId;
          },
        },
      },
      renderError: async (ctx, out) => {
        ctx.type = 'json';
        ctx.body = out;
      },
    };
    const provider = new Provider(config.publicUrl, configuration);
    // Koa believes X-Forwarded-Proto/-Host: the gateway sets them to publicUrl's before any request
    // reaches the provider (src/gateway/forwarded.ts openIdProviderHeaders), so its URLs are publicUrl's.
    provider.proxy = true;
    provider.registerGrantType(
      TOKEN_EXCHANGE_GRANT,
      tokenExchangeHandler({
        apps: config.apps,
        scheme,
        verifier: new AppAccessTokenVerifier(authenticationTokens, config.publicUrl),
        resourcesOf,
        refusal: async (clientId, accountId) =>
          (await accounts.enabled(accountId)) ? refusal(clientId, accountId) : 'the account is disabled or deleted',
        resourceServerInfo,
        setActor: (token, act) => actors.set(token, act),
        maxLifetime: TTL_SECONDS.AccessToken,
      }),
      TOKEN_EXCHANGE_PARAMETERS,
    );
    // SignOnce's session ends only when the user confirmed the sign-out (logout=yes) of an OpenID
    // session of theirs: oidc-provider also completes "stay signed in", and a logout with no
    // OpenID session to end without asking, which a link from any site can start (logout CSRF).
    provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
      if (!ctx.oidc.session?.accountId || !ctx.oidc.params?.logout) return;
      sso.endedBy(ctx.req.headers.cookie).catch(this.#deps.onError);
    });
    provider.on('server_error', (_ctx: unknown, error: unknown) => this.#deps.onError(error));
    return provider;
  }
}
