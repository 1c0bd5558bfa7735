// Service clients at SignOnce's OpenID Provider, through the gateway: client_credentials access
// tokens for an app (RFC 6749 section 4.4, RFC 8707 resource indicators, RFC 9068 JWTs), with a
// secret and with private_key_jwt (RFC 7523); and on-behalf-of, RFC 8693 token exchange, from a
// user's token for one app to another app that accepts it, with `act` naming each service.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
} from 'jose';
import { startTestGateway, type Echo, type TestGateway } from '../support/gateway.ts';
import { devSignIn } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';
import { AuthenticationTokens } from '../../src/session/authentication-tokens.ts';
import { AppAccessTokenVerifier, type AppAccessClaims } from '../../src/session/app-access-tokens.ts';

type SigningKey = Parameters<SignJWT['sign']>[0];

const SECRET = 'service-client-secret-0123456789abcdefghij';
const RP = 'http://web.localhost:9/cb';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

describe('service clients and on-behalf-of at the OpenID Provider', () => {
  let gw: TestGateway;
  let verifier: AppAccessTokenVerifier;
  const keyPair = generateKeyPair('ES256', { extractable: true });
  const origin = (app: string) => `http://${app}.localhost:${gw.port}`;
  const issuer = () => `http://auth.localhost:${gw.port}`;

  before(async () => {
    const publicJwk = await exportJWK((await keyPair).publicKey);
    gw = await startTestGateway((port, upstream) => {
      const app = (id: string, extra: object = {}) => ({ id, hosts: [`${id}.localhost:${port}`], upstream, ...extra });
      const service = (id: string, grants: string[], resources: string[], extra: object = {}) => ({
        id,
        secret: `${id}-${SECRET}`,
        grants,
        resources,
        ...extra,
      });
      return {
        publicUrl: `http://auth.localhost:${port}`,
        devMode: true,
        providers: [{ id: 'dev', type: 'dev' }],
        trustedProxies: ['127.0.0.1'],
        apps: [
          app('orders', {
            hosts: [`orders.localhost:${port}`, `orders-api.localhost:${port}`],
            scopes: ['orders.read', 'orders.write'],
          }),
          app('billing', { scopes: ['orders.read', 'billing.read'], acceptTokensFrom: ['orders'] }),
          app('ledger', { scopes: ['orders.read'], acceptTokensFrom: ['billing'] }),
          app('hr'),
          // Only the reporting service may call it.
          app('reports', { access: [{ allow: { applications: ['reporter'] } }] }),
          // Behind a proxy of the operator's (forward-auth), asked from loopback.
          { id: 'fa', mode: 'forwardAuth', hosts: [`fa.localhost:${port}`] },
        ],
        clients: [
          service('reporter', ['client_credentials'], ['orders', 'billing', 'reports', 'fa']),
          {
            id: 'keyed',
            jwks: { keys: [publicJwk] },
            grants: ['client_credentials'],
            resources: ['orders', 'reports'],
          },
          { id: 'web', secret: `web-${SECRET}`, redirectUris: [RP], resources: ['orders'] },
          { id: 'spa', public: true, redirectUris: [RP] },
          service('orders-svc', ['token_exchange'], ['orders', 'billing', 'hr']),
          service('billing-svc', ['token_exchange'], ['billing', 'ledger', 'orders']),
          service('picky-svc', ['token_exchange'], ['orders', 'billing'], {
            access: [{ allow: { emails: ['boss@example.com'] } }],
          }),
        ],
      };
    });
    // What a backend or the gateway holds: the provider's key set (the one authentication tokens have).
    verifier = new AppAccessTokenVerifier(
      await AuthenticationTokens.open(await gw.store(), { issuer: issuer(), tokenValidityMs: 3_600_000 }),
      issuer(),
    );
  });
  after(() => gw?.close());

  const basic = (id: string, secret = `${id}-${SECRET}`) =>
    `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  /** A token request; `authorization` null for none. */
  const tokenRequest = async (form: Record<string, string>, authorization: string | null) => {
    const response = await new UserAgent().request(`${issuer()}/.auth/oidc/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        ...(authorization ? { authorization } : {}),
      },
      body: new URLSearchParams(form).toString(),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const clientCredentials = (client: string, form: Record<string, string>) =>
    tokenRequest({ grant_type: 'client_credentials', ...form }, basic(client));

  test('client_credentials: an RFC 9068 access token for an app, named by any of its URLs; verified here and by jose against the published keys', async () => {
    for (const resource of [origin('orders'), `${origin('orders-api')}/`, origin('ORDERS')]) {
      const { status, body } = await clientCredentials('reporter', { resource, scope: 'orders.read' });
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.scope, 'orders.read');
      assert.equal(body.expires_in, 3600);
      const token = String(body.access_token);
      const header = decodeProtectedHeader(token);
      assert.equal(header.typ, 'at+jwt');
      assert.equal(typeof header.kid, 'string');
      const claims = decodeJwt(token);
      assert.deepEqual(Object.keys(claims).sort(), ['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub']);
      assert.equal(claims.iss, issuer());
      assert.equal(claims.aud, 'orders', 'the app id, whichever URL named it');
      assert.equal(claims.sub, 'reporter', 'RFC 9068 section 2.2: a client acting for itself is the subject');
      assert.equal(claims.client_id, 'reporter');
      assert.equal(claims.exp! - claims.iat!, 3600);

      const verified = await verifier.verify(token, 'orders');
      assert.equal(verified.sub, 'reporter');
      // An app backend: discovery names the key set, jose checks the token with it.
      const discovery = (await (
        await new UserAgent().request(`${issuer()}/.well-known/openid-configuration`)
      ).json()) as {
        jwks_uri: string;
        grant_types_supported: string[];
      };
      assert.ok(discovery.grant_types_supported.includes('client_credentials'));
      assert.ok(discovery.grant_types_supported.includes(EXCHANGE));
      const jwks = (await (await new UserAgent().request(discovery.jwks_uri)).json()) as { keys: JWK[] };
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
        issuer: issuer(),
        audience: 'orders',
        typ: 'at+jwt',
      });
      assert.equal(payload.client_id, 'reporter');
      await assert.rejects(verifier.verify(token, 'billing'), { reason: 'wrong-audience' });
    }
    const unscoped = await clientCredentials('reporter', { resource: origin('billing') });
    assert.equal(unscoped.status, 200);
    assert.equal(decodeJwt(String(unscoped.body.access_token)).scope, undefined, 'no scope asked, none granted');
  });

  test('client_credentials refusals: an unknown resource, an app not in resources, a scope the app lacks, a public client, a wrong secret', async () => {
    const refusals: Array<[string, Promise<{ status: number; body: Record<string, unknown> }>, number, string]> = [
      [
        'not an app URL',
        clientCredentials('reporter', { resource: 'http://elsewhere.example' }),
        400,
        'invalid_target',
      ],
      ['an app path', clientCredentials('reporter', { resource: `${origin('orders')}/admin` }), 400, 'invalid_target'],
      [
        'an app id (RFC 8707: an absolute URI)',
        clientCredentials('reporter', { resource: 'orders' }),
        400,
        'invalid_target',
      ],
      ['not in resources', clientCredentials('reporter', { resource: origin('hr') }), 400, 'invalid_target'],
      [
        'a public client',
        tokenRequest({ grant_type: 'client_credentials', client_id: 'spa', resource: origin('orders') }, null),
        400,
        'invalid_request',
      ],
      [
        'a wrong secret',
        tokenRequest({ grant_type: 'client_credentials', resource: origin('orders') }, basic('reporter', `x${SECRET}`)),
        401,
        'invalid_client',
      ],
      [
        'no client',
        tokenRequest({ grant_type: 'client_credentials', resource: origin('orders') }, null),
        400,
        'invalid_request',
      ],
      [
        'a user client',
        tokenRequest({ grant_type: 'client_credentials', resource: origin('orders') }, basic('web')),
        400,
        'invalid_request',
      ],
    ];
    for (const [what, request, status, error] of refusals) {
      const { status: got, body } = await request;
      assert.equal(got, status, `${what}: ${JSON.stringify(body)}`);
      if (error) assert.equal(body.error, error, what);
      assert.equal(JSON.stringify(body).includes(SECRET), false);
    }
    const unknownScope = await clientCredentials('reporter', {
      resource: origin('orders'),
      scope: 'orders.read hr.admin',
    });
    assert.equal(unknownScope.status, 200, 'a scope the app does not have is not granted (RFC 6749 section 3.3)');
    assert.equal(unknownScope.body.scope, 'orders.read');
  });

  /** A `keyed` client's assertion (RFC 7523), signed with `key` (its own by default). */
  const assertion = async (key?: Parameters<SignJWT['sign']>[0]) =>
    new SignJWT({ jti: randomBytes(8).toString('hex') })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('keyed')
      .setSubject('keyed')
      .setAudience(issuer())
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(key ?? (await keyPair).privateKey);

  test('client_credentials with private_key_jwt (RFC 7523): a signed assertion, never a replayed or foreign one', async () => {
    const form = (clientAssertion: string) => ({
      grant_type: 'client_credentials',
      resource: origin('orders'),
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion,
    });
    const signed = await assertion();
    const issued = await tokenRequest(form(signed), null);
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    assert.equal((await verifier.verify(String(issued.body.access_token), 'orders')).sub, 'keyed');
    assert.equal((await tokenRequest(form(signed), null)).body.error, 'invalid_client', 'an assertion is used once');
    const other = await assertion((await generateKeyPair('ES256')).privateKey);
    assert.equal((await tokenRequest(form(other), null)).body.error, 'invalid_client', 'another key');
    assert.equal((await clientCredentials('keyed', { resource: origin('orders') })).body.error, 'invalid_client');
  });

  /** A user's access token for `orders`, from the `web` client (code + PKCE, the app as resource), and the ID token. */
  async function userTokens(user: string): Promise<{ access: string; idToken: string; accountId: string }> {
    const { ua } = await devSignIn(`${origin('orders')}/.auth/login/dev`, user);
    const verifier = randomBytes(32).toString('base64url');
    const auth = new URL(`${issuer()}/.auth/oidc/auth`);
    for (const [name, value] of Object.entries({
      client_id: 'web',
      redirect_uri: RP,
      response_type: 'code',
      scope: 'openid orders.read orders.write',
      resource: origin('orders'),
      state: 'st',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }))
      auth.searchParams.set(name, value);
    ua.holdRedirectsTo = /^http:\/\/web\.localhost:9\//;
    const back = new URL((await ua.navigate(auth)).headers.get('location') ?? 'http://nowhere.invalid/');
    const code = back.searchParams.get('code');
    assert.ok(code, `a code: ${back}`);
    const { status, body } = await tokenRequest(
      { grant_type: 'authorization_code', code, redirect_uri: RP, code_verifier: verifier, resource: origin('orders') },
      basic('web'),
    );
    assert.equal(status, 200, JSON.stringify(body));
    const access = String(body.access_token);
    return { access, idToken: String(body.id_token), accountId: decodeJwt(String(body.id_token)).sub! };
  }
  const exchange = (client: string, subjectToken: string, form: Record<string, string>) =>
    tokenRequest(
      { grant_type: EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, ...form },
      basic(client),
    );

  test('token exchange: a user token for orders becomes one for billing with act; then for ledger with nested act', async () => {
    const { access, accountId } = await userTokens('ursula');
    const subject = await verifier.verify(access, 'orders');
    assert.equal(subject.sub, accountId, "the user's account");
    assert.equal(subject.client_id, 'web');
    assert.equal(subject.scope, 'orders.read orders.write');

    const toBilling = await exchange('orders-svc', access, { resource: origin('billing'), scope: 'orders.read' });
    assert.equal(toBilling.status, 200, JSON.stringify(toBilling.body));
    assert.equal(toBilling.body.issued_token_type, ACCESS_TOKEN);
    assert.equal(toBilling.body.token_type, 'Bearer');
    assert.equal(toBilling.body.scope, 'orders.read');
    const billing: AppAccessClaims = await verifier.verify(String(toBilling.body.access_token), 'billing');
    assert.equal(decodeProtectedHeader(String(toBilling.body.access_token)).typ, 'at+jwt');
    assert.equal(billing.sub, accountId, 'the user stays the subject');
    assert.equal(billing.client_id, 'orders-svc');
    assert.deepEqual(billing.act, { sub: 'orders-svc' });
    assert.ok(billing.exp <= subject.exp, 'no longer than the subject token');

    // Without a scope: what the subject token has that the target app knows.
    const byAudience = await exchange('orders-svc', access, { audience: 'billing' });
    assert.equal(byAudience.status, 200, JSON.stringify(byAudience.body));
    assert.equal(byAudience.body.scope, 'orders.read');

    const toLedger = await exchange('billing-svc', String(toBilling.body.access_token), { audience: 'ledger' });
    assert.equal(toLedger.status, 200, JSON.stringify(toLedger.body));
    const ledger = await verifier.verify(String(toLedger.body.access_token), 'ledger');
    assert.equal(ledger.sub, accountId);
    assert.deepEqual(
      ledger.act,
      { sub: 'billing-svc', act: { sub: 'orders-svc' } },
      'RFC 8693 section 4.1: the latest actor outermost',
    );
    assert.equal(ledger.scope, 'orders.read');
  });

  /** A request to an app through the gateway with `Authorization: Bearer <token>`: its status, and what the app received. */
  const callApp = async (app: string, token: string) => {
    const response = await new UserAgent().request(`${origin(app)}/api`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'sec-fetch-mode': 'cors' },
    });
    const text = await response.text();
    return {
      status: response.status,
      challenge: response.headers.get('www-authenticate'),
      echo: response.status === 200 && text.startsWith('{') ? (JSON.parse(text) as Echo) : undefined,
      text,
    };
  };

  test("at the gateway: an app takes SignOnce's tokens for it — a service as an application principal (access rules on applications), a user's exchanged token as the user, with who acts", async () => {
    const reporter = String((await clientCredentials('reporter', { resource: origin('orders') })).body.access_token);
    const atOrders = await callApp('orders', reporter);
    assert.equal(atOrders.status, 200, atOrders.text.slice(0, 300));
    assert.ok(atOrders.echo, atOrders.text.slice(0, 600));
    assert.equal(atOrders.echo!.headers['x-ms-client-principal-name'], 'reporter');
    assert.equal(atOrders.echo!.headers['x-ms-client-principal-idp'], 'signonce');
    // Another app's token: refused with RFC 6750's challenge, never passed on.
    const atBilling = await callApp('billing', reporter);
    assert.equal(atBilling.status, 401);
    assert.match(atBilling.challenge ?? '', /error="invalid_token"/);

    // Access rules on applications: reports lets the reporting service in, and no other.
    const forReports = async (authorization: string | null, form: Record<string, string> = {}) =>
      String(
        (await tokenRequest({ grant_type: 'client_credentials', resource: origin('reports'), ...form }, authorization))
          .body.access_token,
      );
    assert.equal((await callApp('reports', await forReports(basic('reporter')))).status, 200);
    const keyed = await forReports(null, {
      client_id: 'keyed',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(),
    });
    const refused = await callApp('reports', keyed);
    assert.equal(refused.status, 403, refused.text);
    assert.equal(JSON.parse(refused.text).error, 'access_denied');

    // A forward-auth app: its proxy asks /.auth/verify with the caller's Authorization; SignOnce answers the principal.
    const fa = String((await clientCredentials('reporter', { resource: origin('fa') })).body.access_token);
    const verify = (token: string) =>
      new UserAgent().request(gw.url('fa.localhost', '/.auth/verify'), {
        headers: {
          authorization: `Bearer ${token}`,
          'x-forwarded-uri': '/api',
          'x-forwarded-method': 'GET',
          accept: 'application/json',
          'sec-fetch-mode': 'cors',
        },
      });
    const verified = await verify(fa);
    assert.equal(verified.status, 200, await verified.text());
    assert.equal(verified.headers.get('x-ms-client-principal-name'), 'reporter');
    assert.equal((await verify(reporter)).status, 401, "orders' token is not fa's");

    // On behalf of a user: billing sees the user's account and, in the claims, who acts.
    const { access, accountId } = await userTokens('olga');
    const asUser = await callApp('orders', access);
    assert.equal(asUser.status, 200, asUser.text);
    assert.equal(asUser.echo!.headers['x-ms-client-principal-id'], accountId);
    const exchanged = String((await exchange('orders-svc', access, { audience: 'billing' })).body.access_token);
    const atBillingForUser = await callApp('billing', exchanged);
    assert.equal(atBillingForUser.status, 200, atBillingForUser.text);
    assert.equal(atBillingForUser.echo!.headers['x-ms-client-principal-id'], accountId);
    const principal = JSON.parse(
      Buffer.from(String(atBillingForUser.echo!.headers['x-ms-client-principal']), 'base64').toString(),
    ) as { claims: Array<{ typ: string; val: string }> };
    assert.ok(
      principal.claims.some((claim) => claim.typ === 'act' && claim.val.includes('orders-svc')),
      JSON.stringify(principal.claims),
    );
    // A user token of a disabled account is refused at once.
    // (A resolved principal is kept for session.cacheTtl, 1 s here.)
    const store = await gw.store();
    await store.setAccountDisabled(accountId, Date.now());
    try {
      const started = Date.now();
      while ((await callApp('orders', access)).status !== 401) {
        assert.ok(Date.now() - started < 3000, 'refused within cacheTtl');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await store.setAccountDisabled(accountId, null);
    }
  });

  test('token exchange refusals: an app that does not accept the source, a wider scope, expired, foreign and ID tokens, a client token, rules and disabled accounts', async () => {
    const { access, idToken, accountId } = await userTokens('ulrich');
    const store = await gw.store();
    const key = (await store.listSigningKeys()).find((k) => k.retiredAt === undefined)!;
    const claims = decodeJwt(access);
    /** A token like `access`, signed by `signer` (the provider's own key by default) with `changes`. */
    const forged = async (changes: Record<string, unknown>, signer?: SigningKey) =>
      new SignJWT({ ...claims, ...changes })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
        .sign(signer ?? ((await importJWK(key.privateJwk as JWK, key.alg)) as SigningKey));
    const now = Math.floor(Date.now() / 1000);
    const clientToken = String(
      (await clientCredentials('reporter', { resource: origin('orders'), scope: 'orders.read' })).body.access_token,
    );
    const cases: Array<[string, string, string, Record<string, string>, number, string]> = [
      [
        'billing does not accept ledger tokens (only orders)',
        'billing-svc',
        access,
        { audience: 'ledger' },
        400,
        'invalid_target',
      ],
      ['hr does not accept orders', 'orders-svc', access, { audience: 'hr' }, 400, 'invalid_target'],
      ['not in the client resources', 'orders-svc', access, { audience: 'ledger' }, 400, 'invalid_target'],
      ['no target', 'orders-svc', access, {}, 400, 'invalid_target'],
      ['an unknown app', 'orders-svc', access, { audience: 'nope' }, 400, 'invalid_target'],
      [
        'resource and audience disagree',
        'orders-svc',
        access,
        { audience: 'billing', resource: origin('hr') },
        400,
        'invalid_target',
      ],
      [
        'a scope the subject lacks',
        'orders-svc',
        access,
        { audience: 'billing', scope: 'orders.read billing.read' },
        400,
        'invalid_scope',
      ],
      ['an ID token', 'orders-svc', idToken, { audience: 'billing' }, 400, 'invalid_request'],
      [
        'expired',
        'orders-svc',
        await forged({ iat: now - 7200, exp: now - 3600 }),
        { audience: 'billing' },
        400,
        'invalid_request',
      ],
      [
        'another key',
        'orders-svc',
        await forged({}, (await generateKeyPair('EdDSA')).privateKey),
        { audience: 'billing' },
        400,
        'invalid_request',
      ],
      [
        'an account that is no more',
        'orders-svc',
        await forged({ sub: 'deleted-account' }),
        { audience: 'billing' },
        400,
        'invalid_grant',
      ],
      ["a client's own token", 'billing-svc', clientToken, { audience: 'billing' }, 400, 'invalid_request'],
      [
        'another subject type',
        'orders-svc',
        access,
        { audience: 'billing', subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' },
        400,
        'invalid_request',
      ],
      [
        'an actor token',
        'orders-svc',
        access,
        { audience: 'billing', actor_token: access, actor_token_type: ACCESS_TOKEN },
        400,
        'invalid_request',
      ],
      ["the client's access rules", 'picky-svc', access, { audience: 'billing' }, 400, 'invalid_grant'],
      ['a client without the grant', 'reporter', access, { audience: 'billing' }, 400, 'invalid_request'],
    ];
    for (const [what, client, subjectToken, form, status, error] of cases) {
      const { status: got, body } = await exchange(client, subjectToken, form);
      assert.equal(got, status, `${what}: ${JSON.stringify(body)}`);
      assert.equal(body.error, error, `${what}: ${JSON.stringify(body)}`);
      assert.equal(body.access_token, undefined, what);
    }
    await store.setAccountDisabled(accountId, Date.now());
    const disabled = await exchange('orders-svc', access, { audience: 'billing' });
    assert.equal(disabled.body.error, 'invalid_grant', JSON.stringify(disabled.body));
    await store.setAccountDisabled(accountId, null);
    assert.equal((await exchange('orders-svc', access, { audience: 'billing' })).status, 200, 'enabled again');
  });
});
