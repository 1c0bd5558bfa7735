// The attack suite's one setup: a real gateway (the code `signonce serve` runs) in front of a
// recording upstream, with real OpenID providers (oidc-provider) when a file needs them, and the
// tools attacks need: raw bytes over TCP, sign-in flows held at any hop, the store's signing key.
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import type { SigningKey } from '../../src/store/index.ts';
import { startGatewayHarness, type TestGateway } from '../support/gateway.ts';
import type { TestIdp } from '../support/idp.ts';
import { freePort } from '../support/ports.ts';
import { devSignIn } from '../support/sign-in.ts';
import { UserAgent, finalUrl, type Response } from '../support/user-agent.ts';

/** One catalogue row: the attack, what SignOnce must answer, and where the rule comes from. */
export interface Row {
  readonly attack: string;
  /** RFC section, OWASP ASVS id and/or CWE. */
  readonly reference: string;
  /** Set when the attack succeeds today: the reason (the row then runs as a node:test todo). */
  readonly todo?: string;
}

/** The test name of a row. */
export const named = (row: Row) => `${row.attack} [${row.reference}]`;

export type { Received } from '../support/gateway.ts';
/** A gateway in front of the recording upstream (see startSecurityGateway). */
export type SecurityGateway = TestGateway;

export const OIDC_CLIENT_SECRET = 'wiki-client-secret-0123456789abcdefghij';
/** Where the OpenID clients' redirect URIs point (nothing listens: redirects are held). */
export const RP = 'http://rp.localhost:9';

/**
 * A gateway (logging at trace level: more than production logs) in front of the recording
 * upstream, with: `dev` and `local` (password) providers, and `idps` real OpenID providers
 * (`idp` (A) and, with `idps: 2`, `idpb` (B): separate real servers, same client id);
 * apps `app1` (sign-in redirect, tokenStore, an app scheme and one https URL allowed as
 * redirects), `app2` (Return401, accepting app1's tokens), `open` (AllowAnonymous), `guarded`
 * (Return401 with excludedPaths /healthz and /public/*), `down` (its upstream refuses connections); OpenID clients `app2` (named like the
 * app on purpose: cross-protocol confusion) and `partner` (third party: a consent page); with
 * `oauth1`, an OAuth 1.0a provider `twitter`.
 */
export async function startSecurityGateway({
  idps: count = 0,
  oauth1 = false,
}: {
  idps?: 0 | 1 | 2;
  oauth1?: boolean;
} = {}): Promise<SecurityGateway> {
  const ids = ['idp', 'idpb'].slice(0, count);
  const oidc = (id: string, idp: TestIdp) => ({
    id,
    type: 'oidc',
    issuer: idp.issuer,
    clientId: idp.clientId,
    clientSecret: idp.clientSecret,
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    authorizationParams: { prompt: 'consent' },
  });
  const defaultProvider = count ? 'idp' : 'dev';
  const deadPort = await freePort();
  return startGatewayHarness(
    ({ port, upstream, idps, oauth1: twitter }) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      session: { cacheTtl: 0 },
      // A load balancer that is not the attacker (127.0.0.1): forwarding headers the attack suite sends are a client's.
      trustedProxies: ['10.9.9.0/24'],
      providers: [
        { id: 'dev', type: 'dev' },
        { id: 'local', type: 'password', allowRegistration: true },
        ...ids.map((id, i) => oidc(id, idps[i]!)),
        ...(twitter
          ? [
              {
                id: 'twitter',
                type: 'twitter',
                consumerKey: twitter.consumerKey,
                consumerSecret: twitter.consumerSecret,
                requestTokenUrl: `${twitter.url}/oauth/request_token`,
                authorizeUrl: `${twitter.url}/oauth/authenticate`,
                accessTokenUrl: `${twitter.url}/oauth/access_token`,
                userinfoUrl: `${twitter.url}/1.1/account/verify_credentials.json`,
              },
            ]
          : []),
      ],
      apps: [
        {
          id: 'app1',
          hosts: [`app1.localhost:${port}`],
          upstream,
          defaultProvider,
          tokenStore: true,
          allowedExternalRedirectUrls: ['myapp://easyauth.callback', 'https://partner.example/return'],
        },
        {
          id: 'app2',
          hosts: [`app2.localhost:${port}`],
          upstream,
          defaultProvider,
          unauthenticatedAction: 'Return401',
          acceptTokensFrom: ['app1'],
        },
        { id: 'open', hosts: [`open.localhost:${port}`], upstream, unauthenticatedAction: 'AllowAnonymous' },
        {
          id: 'guarded',
          hosts: [`guarded.localhost:${port}`],
          upstream,
          unauthenticatedAction: 'Return401',
          excludedPaths: ['/healthz', '/public/*'],
        },
        {
          id: 'down',
          hosts: [`down.localhost:${port}`],
          upstream: `http://127.0.0.1:${deadPort}`,
          unauthenticatedAction: 'AllowAnonymous',
        },
      ],
      clients: [
        { id: 'app2', secret: OIDC_CLIENT_SECRET, redirectUris: [`${RP}/cb`], postLogoutRedirectUris: [`${RP}/bye`] },
        { id: 'partner', secret: OIDC_CLIENT_SECRET, redirectUris: [`${RP}/partner/cb`], firstParty: false },
      ],
    }),
    { upstream: 'recording', idps: ids.map((id) => ({ providerIds: [id] })), oauth1, logLevel: 'trace' },
  );
}

/** An authorization request to SignOnce's OpenID Provider for `client` (code flow, PKCE S256). */
export function authorizationUrl(gw: SecurityGateway, client: string, redirectUri: string): string {
  const challenge = createHash('sha256').update('a-verifier-of-at-least-43-characters-0123456789').digest('base64url');
  return gw.url(
    'auth.localhost',
    `/.auth/oidc/auth?${new URLSearchParams({
      client_id: client,
      response_type: 'code',
      scope: 'openid',
      state: 'st',
      redirect_uri: redirectUri,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })}`,
  );
}

/** SignOnce's current signing key, private half included (to sign tokens only its checks can refuse). */
export async function signingKey(gw: SecurityGateway): Promise<SigningKey> {
  const keys = await (await gw.store()).listSigningKeys();
  return keys.find((key) => !key.retiredAt) ?? keys[0]!;
}

/**
 * Raw bytes to the gateway over one TCP connection (for what no HTTP client would send); what came
 * back, once the gateway closed the connection or said nothing more for `idleMs`.
 */
export function rawExchange(
  port: number,
  bytes: string | Buffer,
  { idleMs = 250, maxMs = 3000 } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let idle: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(idle);
      clearTimeout(cap);
      socket.destroy();
      resolve(answer);
    };
    const cap = setTimeout(done, maxMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: string) => {
      answer += chunk;
      clearTimeout(idle);
      idle = setTimeout(done, idleMs);
    });
    socket.on('close', done);
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? done() : reject(error)));
  });
}

/** The status codes of every response in a raw answer, in order. */
export const statusesOf = (answer: string) => [...answer.matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((m) => Number(m[1]));

/** The header `name` of a raw response (the first), or undefined. */
export const rawHeader = (answer: string, name: string) =>
  new RegExp(`^${name}: *([^\\r\\n]*)`, 'im').exec(answer.split('\r\n\r\n', 1)[0] ?? '')?.[1];

/** A signed-in browser at `host` through the `dev` provider (its form trusts what is typed). */
export async function devSignInAt(
  gw: SecurityGateway,
  host: string,
  user: string,
  ua = new UserAgent(),
): Promise<UserAgent> {
  const { landed } = await devSignIn(gw.url(host, '/.auth/login/dev?post_login_redirect_uri=/'), user, ua);
  if (landed.status !== 200) throw new Error(`dev sign-in at ${host} ended with ${landed.status}`);
  return ua;
}

/** A browser's session cookie on `host`, if it has one. */
export const sessionCookie = (gw: SecurityGateway, ua: UserAgent, host: string) =>
  ua.jar.get(`${host}:${gw.port}`)?.get(gw.config.session.cookieName)?.value;

/**
 * A sign-in at OpenID provider `provider` started at app1 in `ua` and carried through the
 * provider's login and consent pages, held before the hop named by `holdAt` (the callback by
 * default): the held redirect's target. `tamper` may rewrite the authorization request first.
 */
export async function heldSignIn(
  gw: SecurityGateway,
  provider: string,
  user: string,
  ua = new UserAgent(),
  {
    holdAt = /\/\.auth\/login\/[^/]+\/callback\?/,
    tamper,
  }: { holdAt?: RegExp; tamper?: (authorization: URL) => void } = {},
): Promise<{ ua: UserAgent; held: URL }> {
  let login: Response;
  if (tamper) {
    ua.holdRedirectsTo = /\/auth\?/;
    const toProvider = await ua.navigate(gw.url('app1.localhost', `/.auth/login/${provider}`));
    const authorization = new URL(toProvider.headers.get('location')!);
    tamper(authorization);
    ua.holdRedirectsTo = undefined;
    login = await ua.navigate(authorization);
  } else {
    login = await ua.navigate(gw.url('app1.localhost', `/.auth/login/${provider}`));
  }
  const consent = await ua.submitForm(finalUrl(login), await login.text(), { login: user, password: 'any' });
  ua.holdRedirectsTo = holdAt;
  const held = await ua.submitForm(finalUrl(consent), await consent.text());
  ua.holdRedirectsTo = undefined;
  if (held.status < 300 || held.status >= 400)
    throw new Error(`the sign-in was not held: ${held.status} at ${held.url}`);
  return { ua, held: new URL(held.headers.get('location')!, held.url) };
}

/** Whether `ua` is signed in at app1 now (and as whom: the principal name, or undefined). */
export async function whoAtApp1(gw: SecurityGateway, ua: UserAgent): Promise<string | undefined> {
  const me = await ua.request(gw.url('app1.localhost', '/.auth/me'), {
    headers: { accept: 'application/json', 'sec-fetch-mode': 'cors' },
  });
  if (me.status !== 200) {
    await me.cancel();
    return undefined;
  }
  return ((await me.json()) as Array<{ user_id: string }>)[0]?.user_id;
}
