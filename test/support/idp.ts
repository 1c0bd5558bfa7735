// A real OpenID Provider on loopback (oidc-provider, certified), with its development login and
// consent pages: any user name signs in.
import { freePort } from './ports.ts';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';
import Provider, { errors } from 'oidc-provider';

export interface TestIdp {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The client that authenticates as Sign in with Apple does (when started with `apple`). */
  readonly appleClientId: string;
  /** Every client secret JWT the token endpoint accepted for the Apple client. */
  readonly appleSecrets: JWTPayload[];
  /** How many authorization requests (GET /auth) the provider has received. */
  readonly authorizationRequests: number;
  /** The parameters of the last authorization request. */
  readonly lastAuthorization: URLSearchParams | undefined;
  /** How many refresh-token grants the token endpoint has granted. */
  readonly refreshGrants: number;
  /** How many of them were for `resource` (an RFC 8707 resource indicator). */
  refreshGrantsFor(resource: string): number;
  /**
   * An ID token for SignOnce's client signed with the provider's own key, as the provider issues
   * them, with `claims` over the defaults (iss, aud, iat now, exp in an hour); a claim given as
   * undefined is left out. For tokens no flow of the provider issues on demand (issued long ago).
   */
  mintIdToken(claims: Record<string, unknown> & { sub: string }): Promise<string>;
  /**
   * An access token of `client` (one of `serviceClients`) for itself (client credentials grant)
   * for `resource`, as its token endpoint answers it.
   */
  clientCredentialsToken(client: ServiceClient, resource: string, scope?: string): Promise<string>;
  /** Revokes a token of SignOnce's client (RFC 7009); a refresh token's whole grant goes with it. */
  revoke(token: string): Promise<void>;
  /**
   * What the provider says `user` belongs to from now on: in ID tokens (`groups`, `roles`, or the
   * overage markers), at its Graph-shaped endpoint and at its GitHub-style orgs and teams lists.
   */
  setMemberships(user: string, memberships: IdpMemberships): void;
  /** The membership lists' paging: items per page, and where next links point (default the issuer). */
  readonly lists: { pageSize: number; nextLinkOrigin: string };
  /** Requests the Graph-shaped and GitHub-style lists have answered, and how many of them with 401. */
  readonly listRequests: { answered: number; refused: number };
  close(): Promise<void>;
}

/** An account's memberships at the test provider (each part optional). */
export interface IdpMemberships {
  /** The ID token's `groups` claim (left out under overage, as Entra ID does). */
  readonly groups?: readonly string[];
  readonly roles?: readonly string[];
  /**
   * Entra ID group overage: the ID token carries `_claim_names`/`_claim_sources` (code flow) or
   * `hasgroups: true` (implicit flow) instead of `groups`; Graph answers `graphGroups`.
   */
  readonly overage?: 'claim-names' | 'hasgroups';
  /** What GET /v1.0/me/transitiveMemberOf/microsoft.graph.group answers (object ids). */
  readonly graphGroups?: readonly string[];
  /** GitHub-style GET /api/user/orgs (logins) and /api/user/teams (organisation login and slug). */
  readonly orgs?: readonly string[];
  readonly teams?: ReadonlyArray<{ readonly org: string; readonly slug: string }>;
}

/** A confidential client of the provider that only calls APIs for itself (client credentials). */
export interface ServiceClient {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** What Apple checks of a client secret JWT: signed ES256 by the team's key `keyId`. */
export interface AppleKeyCheck {
  readonly teamId: string;
  readonly keyId: string;
  readonly publicKey: KeyObject;
}

// The providers' signing key: one per test process, kept across a restart on the same port.
const SIGNING_JWK: JWK = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: 'test-idp-key',
  alg: 'RS256',
  use: 'sig',
};

const APPLE_CLIENT_ID = 'com.example.signonce';
const APPLE_REGISTERED_SECRET = 'apple-client-registered-secret-0123456789';
const SIX_MONTHS_SECONDS = 15_777_000;

/**
 * Apple's client authentication in front of oidc-provider's token endpoint: the Apple client's
 * `client_secret` must be a JWT as Apple demands (ES256, kid, iss = team, sub = client id,
 * aud = issuer, at most six months); a valid one is swapped for the secret oidc-provider knows.
 */
async function checkAppleSecret(
  body: Record<string, string>,
  issuer: string,
  check: AppleKeyCheck,
  accepted: JWTPayload[],
): Promise<void> {
  if (body.client_id === APPLE_CLIENT_ID && body.client_secret) {
    try {
      if (decodeProtectedHeader(body.client_secret).kid !== check.keyId) throw new Error('wrong kid');
      const { payload } = await jwtVerify(body.client_secret, check.publicKey, {
        algorithms: ['ES256'],
        issuer: check.teamId,
        subject: APPLE_CLIENT_ID,
        audience: issuer,
        requiredClaims: ['iat', 'exp'],
      });
      if (payload.exp! - payload.iat! > SIX_MONTHS_SECONDS) throw new Error('longer than six months');
      accepted.push(payload);
      body.client_secret = APPLE_REGISTERED_SECRET;
    } catch {
      // Left as sent: oidc-provider answers invalid_client.
    }
  }
}

/** A form body read here, left where oidc-provider reads an already parsed body (request.body). */
async function readForm(request: IncomingMessage & { body?: Record<string, string> }): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  request.body = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString()));
  return request.body;
}

export interface IdpOptions {
  /** Adds a client that authenticates and is answered as Sign in with Apple's are. */
  readonly apple?: AppleKeyCheck;
  /** Access token lifetime (oidc-provider's default is an hour). */
  readonly accessTokenTtlSeconds?: number;
  /**
   * Resource servers (RFC 8707 resource indicators on): indicator -> its scopes, the lifetime of
   * its access tokens (audience = the indicator) and their format (opaque unless `jwt`: RFC 9068,
   * `typ: at+jwt`, signed with the provider's key).
   */
  readonly resourceServers?: Readonly<
    Record<
      string,
      { readonly scope: string; readonly accessTokenTtlSeconds?: number; readonly accessTokenFormat?: 'opaque' | 'jwt' }
    >
  >;
  /** Clients of the client credentials grant (its feature is on when there are some). */
  readonly serviceClients?: readonly ServiceClient[];
  /**
   * Awaited before a refresh-token grant request is processed (a slow provider). A request whose
   * client has gone by then is dropped unprocessed, as by a provider that never got to it.
   */
  readonly beforeRefreshGrant?: () => Promise<void>;
  /**
   * How the provider authenticates (its login form): the `amr`/`acr` its ID tokens then carry, from
   * the authorization request's parameters (a provider that does a second factor when `acr_values`
   * asks for one answers with it). `acrValues` are the ones it supports (acr_values_supported).
   */
  readonly authentication?: {
    readonly acrValues: readonly string[];
    /** The methods, and (`ts`, seconds) when the user authenticated if not now. */
    methods(params: Readonly<Record<string, unknown>>): { amr?: string[]; acr?: string; ts?: number };
    /** Does not honour `max_age` (as if it never arrived), as providers that answer from a session of their own. */
    readonly ignoresMaxAge?: boolean;
  };
}

/** Starts a provider; pass `previous` to start again on its port (to change the redirect URIs). */
/**
 * The test provider as a GitHub-style OAuth 2 provider (the `github` preset's shape): its
 * authorization and token endpoints, `/api/user`, and the organisation and team lists, so no
 * preset default ever points a test at api.github.com.
 */
export const githubStyle = (idp: Pick<TestIdp, 'issuer' | 'clientId' | 'clientSecret'>) => ({
  type: 'github',
  clientId: idp.clientId,
  clientSecret: idp.clientSecret,
  scopes: ['profile'],
  authorizationUrl: `${idp.issuer}/auth`,
  tokenUrl: `${idp.issuer}/token`,
  userinfoUrl: `${idp.issuer}/api/user`,
  orgsUrl: `${idp.issuer}/api/user/orgs`,
  teamsUrl: `${idp.issuer}/api/user/teams`,
});

export async function startOidcProvider(
  redirectUris: string[],
  previous?: TestIdp,
  {
    apple,
    accessTokenTtlSeconds,
    resourceServers,
    serviceClients = [],
    beforeRefreshGrant,
    authentication,
  }: IdpOptions = {},
): Promise<TestIdp> {
  const port = previous ? Number(new URL(previous.issuer).port) : await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = 'signonce-test';
  const clientSecret = 'test-client-secret-0123456789abcdef';
  const appleSecrets: JWTPayload[] = [];
  const memberships = new Map<string, IdpMemberships>();
  const lists = { pageSize: 2, nextLinkOrigin: issuer };
  const listRequests = { answered: 0, refused: 0 };
  /** What an account's ID token says of its groups (as Entra ID writes it). */
  const groupClaims = (id: string): Record<string, unknown> => {
    const of = memberships.get(id);
    if (!of) return {};
    const roles = of.roles ? { roles: of.roles } : {};
    if (of.overage === 'hasgroups') return { ...roles, hasgroups: true };
    if (of.overage === 'claim-names')
      return {
        ...roles,
        _claim_names: { groups: 'src1' },
        _claim_sources: { src1: { endpoint: `${issuer}/v1.0/users/${id}/getMemberObjects` } },
      };
    return { ...roles, ...(of.groups ? { groups: of.groups } : {}) };
  };
  const provider = new Provider(issuer, {
    jwks: { keys: [SIGNING_JWK] },
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        // SignOnce's one post-logout redirect URI, on the auth host of each callback.
        post_logout_redirect_uris: [...new Set(redirectUris.map((uri) => new URL('/.auth/logout/done', uri).href))],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
      ...(apple
        ? [
            {
              client_id: APPLE_CLIENT_ID,
              client_secret: APPLE_REGISTERED_SECRET,
              redirect_uris: redirectUris,
              grant_types: ['authorization_code'],
              response_types: ['code' as const],
              token_endpoint_auth_method: 'client_secret_post' as const,
            },
          ]
        : []),
      ...serviceClients.map(({ clientId: id, clientSecret: secret }) => ({
        client_id: id,
        client_secret: secret,
        redirect_uris: [],
        grant_types: ['client_credentials'],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_post' as const,
      })),
    ],
    async findAccount(_ctx, id) {
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: `${id}@example.com`,
            email_verified: true,
            name: `${id[0]!.toUpperCase()}${id.slice(1)} Example`,
            given_name: id,
            ...groupClaims(id),
          };
        },
      };
    },
    claims: {
      // acr and amr: how the user authenticated (`authentication`), in every ID token.
      openid: ['sub', 'groups', 'roles', 'hasgroups', 'acr', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name'],
    },
    // Scope claims in the ID token too (as Entra ID puts groups there), not only at userinfo.
    conformIdTokenClaims: false,
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    pkce: { required: () => true },
    features: {
      revocation: { enabled: true },
      introspection: { enabled: true },
      clientCredentials: { enabled: serviceClients.length > 0 },
      resourceIndicators: {
        enabled: resourceServers !== undefined,
        async getResourceServerInfo(_ctx, indicator) {
          const server = resourceServers?.[indicator];
          if (!server) throw new errors.InvalidTarget();
          return {
            scope: server.scope,
            audience: indicator,
            accessTokenFormat: server.accessTokenFormat ?? 'opaque',
            accessTokenTTL: server.accessTokenTtlSeconds ?? 3600,
          };
        },
      },
    },
    ...(accessTokenTtlSeconds ? { ttl: { AccessToken: accessTokenTtlSeconds } } : {}),
    ...(authentication ? { acrValues: [...authentication.acrValues] } : {}),
    cookies: { keys: ['test-cookie-key'] },
    issueRefreshToken: async () => true,
    // Every refresh rotates the refresh token; using a rotated one again revokes the whole grant.
    rotateRefreshToken: true,
  });
  // Beside the authorization server, a GitHub-style API for plain OAuth 2 clients: GET /api/user
  // with the access token answers the user's profile.
  const handle = provider.callback();
  let authorizationRequests = 0;
  let lastAuthorization: URLSearchParams | undefined;
  let refreshGrants = 0;
  const refreshGrantsByResource = new Map<unknown, number>();
  provider.on('grant.success', (ctx: { oidc: { params?: { grant_type?: unknown; resource?: unknown } } }) => {
    if (ctx.oidc.params?.grant_type !== 'refresh_token') return;
    refreshGrants++;
    refreshGrantsByResource.set(
      ctx.oidc.params.resource,
      (refreshGrantsByResource.get(ctx.oidc.params.resource) ?? 0) + 1,
    );
  });
  const server = createHttpServer(async (request, response) => {
    if (request.method === 'GET' && /^\/auth(\?|$)/.test(request.url ?? '')) {
      authorizationRequests++;
      const url = new URL(request.url!, issuer);
      lastAuthorization = new URLSearchParams(url.searchParams);
      if (authentication?.ignoresMaxAge) {
        url.searchParams.delete('max_age');
        request.url = `${url.pathname}${url.search}`;
      }
    }
    // The development login form's answer, with the methods this provider authenticates by.
    if (authentication && request.method === 'POST' && /^\/interaction\/[^/]+$/.test(request.url ?? '')) {
      const form = await readForm(request);
      if (form.prompt === 'login') {
        const { params } = await provider.interactionDetails(request, response);
        const login = { accountId: form.login!, ...authentication.methods(params) };
        return void (await provider.interactionFinished(
          request,
          response,
          { login },
          { mergeWithLastSubmission: false },
        ));
      }
    }
    if ((apple || beforeRefreshGrant) && request.method === 'POST' && request.url === '/token') {
      let clientGone = false;
      response.once('close', () => {
        clientGone = !response.writableEnded;
      });
      const body = await readForm(request);
      if (apple) await checkAppleSecret(body, issuer, apple, appleSecrets);
      if (beforeRefreshGrant && body.grant_type === 'refresh_token') {
        await beforeRefreshGrant();
        if (clientGone) return;
      }
    }
    const list = membershipList(request.url ?? '');
    if (list) return answerList(request.headers.authorization, list, response);
    if (request.url !== '/api/user') return handle(request, response);
    const token = await provider.AccessToken.find(request.headers.authorization?.replace(/^Bearer /, '') ?? '');
    if (!token) return void response.writeHead(401).end();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        id: 4200 + token.accountId.length,
        login: token.accountId,
        email: `${token.accountId}@example.com`,
        site_admin: false,
      }),
    );
  });
  /** Which membership list a request path asks for, and from which item on. */
  function membershipList(url: string): { kind: 'graph' | 'orgs' | 'teams'; from: number } | undefined {
    const parsed = new URL(url, issuer);
    const kind =
      parsed.pathname === '/v1.0/me/transitiveMemberOf/microsoft.graph.group'
        ? 'graph'
        : parsed.pathname === '/api/user/orgs'
          ? 'orgs'
          : parsed.pathname === '/api/user/teams'
            ? 'teams'
            : undefined;
    return kind && { kind, from: Number(parsed.searchParams.get(kind === 'graph' ? '$skiptoken' : 'page') ?? 0) };
  }

  /** A page of a membership list for the account of a live access token of this provider; 401 without one. */
  async function answerList(
    authorization: string | undefined,
    { kind, from }: { kind: 'graph' | 'orgs' | 'teams'; from: number },
    response: ServerResponse,
  ): Promise<void> {
    const token = await provider.AccessToken.find(authorization?.replace(/^Bearer /, '') ?? '');
    if (!token) {
      listRequests.refused++;
      return void response.writeHead(401).end();
    }
    listRequests.answered++;
    const of = memberships.get(token.accountId) ?? {};
    const all =
      kind === 'graph'
        ? (of.graphGroups ?? []).map((id) => ({ '@odata.type': '#microsoft.graph.group', id }))
        : kind === 'orgs'
          ? (of.orgs ?? []).map((login) => ({ login, id: login.length }))
          : (of.teams ?? []).map((team) => ({ slug: team.slug, organization: { login: team.org } }));
    const page = all.slice(from, from + lists.pageSize);
    const more = from + lists.pageSize < all.length;
    const next = (parameter: string) =>
      `${lists.nextLinkOrigin}${kind === 'graph' ? '/v1.0/me/transitiveMemberOf/microsoft.graph.group?$select=id&' : `/api/user/${kind}?`}${parameter}=${from + lists.pageSize}`;
    if (kind === 'graph') {
      response.writeHead(200, { 'content-type': 'application/json' });
      return void response.end(
        JSON.stringify({ value: page, ...(more ? { '@odata.nextLink': next('$skiptoken') } : {}) }),
      );
    }
    response.writeHead(200, {
      'content-type': 'application/json',
      ...(more
        ? { link: `<${next('page')}>; rel="next", <${lists.nextLinkOrigin}/api/user/${kind}?page=0>; rel="first"` }
        : {}),
    });
    response.end(JSON.stringify(page));
  }

  server.listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    issuer,
    clientId,
    clientSecret,
    appleClientId: APPLE_CLIENT_ID,
    appleSecrets,
    get authorizationRequests() {
      return authorizationRequests;
    },
    get lastAuthorization() {
      return lastAuthorization;
    },
    get refreshGrants() {
      return refreshGrants;
    },
    refreshGrantsFor: (resource) => refreshGrantsByResource.get(resource) ?? 0,
    async mintIdToken(claims) {
      const now = Math.floor(Date.now() / 1000);
      const payload = Object.fromEntries(
        Object.entries({ iss: issuer, aud: clientId, iat: now, exp: now + 3600, ...claims }).filter(
          ([, value]) => value !== undefined,
        ),
      );
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', kid: SIGNING_JWK.kid! })
        .sign(await importJWK(SIGNING_JWK, 'RS256'));
    },
    async clientCredentialsToken(client, resource, scope) {
      const answer = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: client.clientId,
          client_secret: client.clientSecret,
          resource,
          ...(scope ? { scope } : {}),
        }),
      });
      const body = (await answer.json()) as { access_token?: string };
      if (answer.status !== 200 || !body.access_token)
        throw new Error(`the client credentials grant answered ${answer.status}: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async revoke(token: string) {
      const answer = await fetch(`${issuer}/token/revocation`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: clientId, client_secret: clientSecret }),
      });
      if (answer.status !== 200) throw new Error(`revocation answered ${answer.status}`);
    },
    setMemberships: (user, of) => void memberships.set(user, of),
    lists,
    listRequests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
