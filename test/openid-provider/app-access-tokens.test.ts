// The pure decisions of service clients and on-behalf-of: the verifier of the OpenID Provider's
// access tokens against hostile tokens (RFC 8725, RFC 9068 section 4), which app a resource
// indicator names (RFC 8707 section 2), and what a token exchange may give (RFC 8693).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { verifyAppAccessToken, type AppAccessClaims } from '../../src/session/app-access-tokens.ts';
import { appOfResource } from '../../src/openid-provider/resources.ts';
import { decideExchange, type ExchangeRequest } from '../../src/openid-provider/token-exchange.ts';
import type { AppConfig } from '../../src/config/index.ts';

const ISSUER = 'https://auth.example.com';
const NOW = 1_800_000_000;
const unsigned = (header: object, payload: object) =>
  `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;

describe('verifyAppAccessToken', async () => {
  const ours = await generateKeyPair('EdDSA', { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(ours.publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' };
  const keys = createLocalJWKSet({ keys: [publicJwk] });
  const theirs = await generateKeyPair('EdDSA');
  const claims: JWTPayload = {
    iss: ISSUER,
    aud: 'orders',
    sub: 'account-1',
    client_id: 'web',
    iat: NOW - 10,
    exp: NOW + 3600,
    jti: 'j1',
    scope: 'orders.read',
  };
  const sign = (
    changes: Record<string, unknown> = {},
    header: Record<string, unknown> = {},
    key: Parameters<SignJWT['sign']>[0] = ours.privateKey,
  ) => {
    const payload = { ...claims, ...changes };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k1', typ: 'at+jwt', ...header } as never)
      .sign(key);
  };
  const verify = (token: string, audiences = ['orders']) =>
    verifyAppAccessToken(token, keys, { issuer: ISSUER, audiences, algorithms: ['EdDSA'], now: NOW });

  test('accepts a token of the provider for the app, typed at+jwt or application/at+jwt (any case), with act', async () => {
    assert.equal((await verify(await sign())).sub, 'account-1');
    assert.equal((await verify(await sign({}, { typ: 'application/at+jwt' }))).aud, 'orders');
    assert.equal((await verify(await sign({}, { typ: 'AT+JWT' }))).client_id, 'web');
    const acted = await verify(await sign({ act: { sub: 'b-svc', act: { sub: 'a-svc' } } }), ['billing', 'orders']);
    assert.deepEqual(acted.act, { sub: 'b-svc', act: { sub: 'a-svc' } });
  });

  const hmacKey = new TextEncoder().encode(JSON.stringify(publicJwk));
  const hostile: Array<[string, () => Promise<string>, string]> = [
    ['alg none', async () => unsigned({ alg: 'none', typ: 'at+jwt', kid: 'k1' }, claims), 'wrong-algorithm'],
    ['HS256 keyed with the public key', () => sign({}, { alg: 'HS256' }, hmacKey), 'wrong-algorithm'],
    ['another key under our kid', () => sign({}, {}, theirs.privateKey), 'bad-signature'],
    ['a kid we do not have', () => sign({}, { kid: 'k2' }), 'unknown-key'],
    ['no kid', () => sign({}, { kid: undefined }), 'unknown-key'],
    ['a key in the header (jwk)', async () => sign({}, { jwk: publicJwk }), 'forbidden-header'],
    ['keys elsewhere (jku)', () => sign({}, { jku: 'https://evil.example/keys' }), 'forbidden-header'],
    ['wrong audience', () => sign({ aud: 'billing' }), 'wrong-audience'],
    ['two audiences', () => sign({ aud: ['orders', 'billing'] }), 'wrong-audience'],
    ['wrong issuer', () => sign({ iss: 'https://evil.example' }), 'wrong-issuer'],
    ['typ JWT (an ID token)', () => sign({}, { typ: 'JWT' }), 'wrong-type'],
    ['no typ', () => sign({}, { typ: undefined }), 'wrong-type'],
    ['an authentication token of the app', () => sign({}, { typ: 'signonce-auth+jwt' }), 'wrong-type'],
    ['a logout token', () => sign({}, { typ: 'logout+jwt' }), 'wrong-type'],
    ['a DPoP proof', () => sign({}, { typ: 'dpop+jwt' }), 'wrong-type'],
    ['expired (beyond 60 s)', () => sign({ exp: NOW - 61 }), 'expired'],
    ['not yet valid', () => sign({ nbf: NOW + 120 }), 'missing-claim'],
    ['no exp', () => sign({ exp: undefined }), 'missing-claim'],
    ['no client_id', () => sign({ client_id: undefined }), 'missing-claim'],
    ['no jti', () => sign({ jti: undefined }), 'missing-claim'],
    ['a numeric sub', () => sign({ sub: 42 }), 'missing-claim'],
    ['a scope that is no string', () => sign({ scope: ['orders.read'] }), 'missing-claim'],
    ['an act without sub', () => sign({ act: { client: 'x' } }), 'missing-claim'],
    ['not a JWT', async () => 'opaque-access-token', 'malformed'],
  ];
  for (const [what, token, reason] of hostile)
    test(`refuses ${what}`, async () => {
      await assert.rejects(verify(await token()), (error: Error & { reason?: string; code?: string }) => {
        assert.equal(error.code, 'ERR_TOKEN_REFUSED', `${what}: ${error.message}`);
        assert.equal(error.reason, reason, `${what}: ${error.message}`);
        return true;
      });
    });
});

const app = (id: string, hosts: string[], extra: Partial<AppConfig> = {}) =>
  ({ id, hosts, scopes: [], acceptTokensFrom: [], ...extra }) as unknown as AppConfig;
const APPS = [
  app('orders', ['orders.example.com', 'api.example.com:8443'], { scopes: ['orders.read', 'orders.write'] }),
  app('billing', ['billing.example.com'], { scopes: ['orders.read', 'billing.read'], acceptTokensFrom: ['orders'] }),
  app('hr', ['hr.example.com']),
];

describe('appOfResource', () => {
  const rows: Array<[string, string | undefined]> = [
    ['https://orders.example.com', 'orders'],
    ['https://orders.example.com/', 'orders'],
    ['https://ORDERS.example.com:443/', 'orders'],
    ['https://api.example.com:8443', 'orders'],
    ['https://api.example.com', undefined],
    ['http://orders.example.com', undefined],
    ['https://orders.example.com/admin', undefined],
    ['https://orders.example.com/?x=1', undefined],
    ['https://user@orders.example.com/', undefined],
    ['https://orders.example.com.evil.example', undefined],
    ['orders', undefined],
    ['urn:orders', undefined],
    ['https://auth.example.com', undefined],
  ];
  for (const [resource, expected] of rows)
    test(`${resource} -> ${expected ?? 'no app'}`, () => {
      assert.equal(appOfResource(resource, APPS, 'https:')?.id, expected);
    });
});

describe('decideExchange', () => {
  const subject: AppAccessClaims = {
    iss: ISSUER,
    aud: 'orders',
    sub: 'account-1',
    client_id: 'web',
    iat: NOW - 10,
    exp: NOW + 600,
    jti: 'j1',
    scope: 'orders.read orders.write',
  };
  const request = (changes: Partial<ExchangeRequest> = {}): ExchangeRequest => ({
    client: { id: 'svc', resources: ['billing', 'hr', 'orders'] },
    audience: 'billing',
    subject,
    apps: APPS,
    scheme: 'https:',
    now: NOW,
    maxLifetime: 3600,
    ...changes,
  });

  test('the user stays the subject; the client acts; scopes narrow; the lifetime is what the subject token has left', () => {
    const exchange = decideExchange(request());
    assert.equal(exchange.app.id, 'billing');
    assert.deepEqual(exchange.scopes, ['orders.read'], 'held and known to billing');
    assert.deepEqual(exchange.act, { sub: 'svc' });
    assert.equal(exchange.lifetime, 600);
    assert.equal(decideExchange(request({ maxLifetime: 60 })).lifetime, 60);
    const chained = decideExchange(
      request({
        subject: { ...subject, act: { sub: 'first' } },
        audience: undefined,
        resource: 'https://billing.example.com',
      }),
    );
    assert.deepEqual(chained.act, { sub: 'svc', act: { sub: 'first' } });
    assert.deepEqual(decideExchange(request({ audience: 'orders', scope: 'orders.write' })).scopes, ['orders.write']);
    assert.deepEqual(decideExchange(request({ scope: '' })).scopes, [], 'none asked, none given');
  });

  const refusals: Array<[string, Partial<ExchangeRequest>, string]> = [
    ['no target', { audience: undefined }, 'invalid_target'],
    ['an unknown app', { audience: 'nope' }, 'invalid_target'],
    ['an unknown URL', { audience: undefined, resource: 'https://nope.example.com' }, 'invalid_target'],
    ['resource and audience disagree', { resource: 'https://hr.example.com' }, 'invalid_target'],
    ['an app the client may not have', { client: { id: 'svc', resources: ['hr'] } }, 'invalid_target'],
    // The actor must be a service of the app the user's token is for: a token for orders, stolen by
    // a client that only serves billing, buys nothing (RFC 8693 section 1.1, the actor is authorised).
    [
      'a subject token for an app the client does not serve',
      { client: { id: 'svc', resources: ['billing'] } },
      'invalid_grant',
    ],
    ['an app that does not accept the source', { audience: 'hr' }, 'invalid_target'],
    ['a scope the subject lacks', { scope: 'orders.read billing.read' }, 'invalid_scope'],
    ['a scope the app lacks', { audience: 'orders', scope: 'orders.read billing.read' }, 'invalid_scope'],
    ['expired', { now: NOW + 600 }, 'invalid_request'],
  ];
  for (const [what, changes, error] of refusals)
    test(`refuses ${what}: ${error}`, () => {
      assert.throws(() => decideExchange(request(changes)), { error });
    });
});
