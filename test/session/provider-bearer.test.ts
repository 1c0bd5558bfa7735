// Identity providers' access tokens at an app (apps[].acceptProviderTokens): the pure verification
// against hostile tokens (RFC 8725, RFC 9068 section 4, RFC 6750), each row one attack, signed
// with real keys (the provider's, another issuer's); and the kept verifications until exp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SignJWT,
  UnsecuredJWT,
  createLocalJWKSet,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { ExternalTokenRefused, IssuerUnavailable } from '../../src/accounts/external-issuers.ts';
import {
  ProviderBearerTokens,
  accessTokenTypeProblem,
  verifyProviderAccessToken,
  type AcceptedIssuer,
} from '../../src/session/provider-bearer.ts';
import { AUTHENTICATION_TOKEN_TYPE } from '../../src/session/authentication-tokens.ts';
import { parseConfig } from '../../src/config/index.ts';
import { tamperedSignature } from '../support/tokens.ts';

const IDP = 'https://login.example.com/tenant-1/v2.0';
const OTHER_IDP = 'https://other-idp.example.com';
const SIGNONCE = 'https://auth.example.com';
const ORDERS = 'api://orders';
const now = () => Math.floor(Date.now() / 1000);

const provider = await generateKeyPair('RS256');
const stranger = await generateKeyPair('RS256');
const publicJwk: JWK = { ...(await exportJWK(provider.publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
const keys = createLocalJWKSet({ keys: [publicJwk] });
const accepted = (more: Partial<AcceptedIssuer> = {}): AcceptedIssuer[] => [
  { provider: 'aad', issuer: IDP, keys, audiences: [ORDERS, 'web-client-id'], ...more },
];

/** A token as the provider signs it: its key, `kid`, RS256, `typ` at+jwt unless given (null: none). */
async function signed(
  claims: JWTPayload,
  {
    typ = 'at+jwt',
    key = provider.privateKey,
    kid = 'idp-1',
  }: { typ?: string | null; key?: typeof provider.privateKey; kid?: string } = {},
) {
  const payload: JWTPayload = {
    iss: IDP,
    aud: ORDERS,
    sub: 'alice',
    client_id: 'web',
    scope: 'orders.read',
    ...claims,
  };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  if (payload.exp === undefined && !('exp' in claims)) payload.exp = now() + 600;
  if (payload.iat === undefined && !('iat' in claims)) payload.iat = now();
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid, ...(typ === null ? {} : { typ }) }).sign(key);
}

/** HS256 keyed with the provider's public key, as a confused verifier would check it. */
async function hmacWithPublicKey(claims: JWTPayload) {
  const secret = new TextEncoder().encode(await exportSPKI(provider.publicKey));
  return new SignJWT({ iss: IDP, aud: ORDERS, sub: 'alice', scope: 'x', exp: now() + 600, ...claims })
    .setProtectedHeader({ alg: 'HS256', kid: 'idp-1', typ: 'at+jwt' })
    .sign(secret);
}

const refusals: Array<[string, () => Promise<string>, RegExp, Partial<AcceptedIssuer>?]> = [
  ['a token for another audience', () => signed({ aud: 'api://billing' }), /"aud" claim/],
  ['a token for another app of the same provider', () => signed({ aud: 'api://payroll' }), /"aud" claim/],
  [
    "another issuer's key under the provider's kid",
    () => signed({}, { key: stranger.privateKey }),
    /signature does not verify/,
  ],
  [
    "another issuer's key under its own kid",
    () => signed({}, { key: stranger.privateKey, kid: 'other-1' }),
    /key the issuer does not publish/,
  ],
  ['a token of an issuer the app does not accept', () => signed({ iss: OTHER_IDP }), /not issued by a provider/],
  ['no issuer at all', () => signed({ iss: undefined }), /not issued by a provider/],
  [
    'alg confusion: HS256 keyed with the public key',
    () => hmacWithPublicKey({}),
    /"HS256" is not an accepted algorithm/,
  ],
  [
    'alg none',
    async () => new UnsecuredJWT({ iss: IDP, aud: ORDERS, sub: 'alice', scope: 'x', exp: now() + 600 }).encode(),
    /"none" is not an accepted algorithm/,
  ],
  ['a tampered signature', async () => tamperedSignature(await signed({})), /signature does not verify/],
  ['expired', () => signed({ exp: now() - 120 }), /expired/],
  ['no exp', () => signed({ exp: undefined }), /"exp" claim/],
  ['nbf five minutes ahead', () => signed({ nbf: now() + 300 }), /"nbf" claim/],
  ['iat five minutes ahead', () => signed({ iat: now() + 300 }), /issued in the future/],
  [
    'an ID token presented as an access token (typ JWT, nonce)',
    () =>
      signed(
        { aud: 'web-client-id', nonce: 'n-1', scope: undefined, client_id: undefined, azp: 'web' },
        { typ: 'JWT' },
      ),
    /nonce: it is an ID token/,
  ],
  [
    'an ID token with scopes and a nonce',
    () => signed({ nonce: 'n-1', scp: 'orders.read' }, { typ: null }),
    /nonce: it is an ID token/,
  ],
  [
    'an untyped token that grants nothing (an ID token without nonce)',
    () => signed({ aud: 'web-client-id', scope: undefined }, { typ: null }),
    /grants nothing/,
  ],
  ['typ dpop+jwt', () => signed({}, { typ: 'dpop+jwt' }), /"dpop\+jwt", not at\+jwt/],
  ['typ id_token+jwt', () => signed({}, { typ: 'id_token+jwt' }), /not at\+jwt/],
  ['typ logout+jwt', () => signed({}, { typ: 'logout+jwt' }), /not at\+jwt/],
  [
    'a SignOnce authentication token of another app',
    () => signed({ iss: SIGNONCE, aud: 'billing', sid: 's-1', uid: 'u-1' }, { typ: AUTHENTICATION_TOKEN_TYPE }),
    /not issued by a provider/,
  ],
  [
    'an application not in allowedApplications',
    () => signed({ client_id: 'intruder' }),
    /"intruder" is not one of this app's allowedApplications/,
    { allowedApplications: ['web', 'orders-worker'] },
  ],
  [
    'no application at all while allowedApplications is set',
    () => signed({ client_id: undefined }),
    /names no application/,
    { allowedApplications: ['web'] },
  ],
  ['no subject', () => signed({ sub: undefined }), /"sub" claim is missing/],
  [
    'an application token (idtyp app) naming no application',
    () => signed({ idtyp: 'app', client_id: undefined }),
    /must name its application/,
  ],
  ['not a JWT', async () => 'opaque-access-token-1234', /not a JWT/],
];

test('provider access tokens: every hostile token is refused, with why', async () => {
  for (const [name, make, why, more] of refusals) {
    const token = await make();
    await assert.rejects(verifyProviderAccessToken(token, accepted(more)), (error: unknown) => {
      assert.ok(error instanceof ExternalTokenRefused, `${name}: ${String(error)}`);
      assert.match(error.message, why, name);
      assert.ok(!error.message.includes(token), `${name}: the token is not repeated`);
      return true;
    });
  }
});

test('key-pointing headers (jku, jwk, x5u, x5c, crit) are refused before any key is looked at', async () => {
  let keyLookups = 0;
  const counted: JWTVerifyGetKey = async (header, token) => {
    keyLookups++;
    return keys(header, token);
  };
  const [, payload, signature] = (await signed({})).split('.');
  for (const [name, value] of Object.entries({
    jku: 'https://attacker.example/jwks.json',
    jwk: publicJwk,
    x5u: 'https://attacker.example/cert.pem',
    x5c: ['MIIB'],
    crit: ['exp'],
  })) {
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'idp-1', typ: 'at+jwt', [name]: value })).toString(
      'base64url',
    );
    await assert.rejects(
      verifyProviderAccessToken(`${header}.${payload}.${signature}`, accepted({ keys: counted })),
      new RegExp(`"${name}" header is not accepted`),
    );
  }
  assert.equal(keyLookups, 0);
});

test('accepted: users and applications, typed at+jwt or as Entra ID issues them', async () => {
  const accepts: Array<[string, () => Promise<string>, { sub: string; clientId: string | undefined; alone: boolean }]> =
    [
      ['an RFC 9068 user token', () => signed({}), { sub: 'alice', clientId: 'web', alone: false }],
      [
        'application/at+jwt',
        () => signed({}, { typ: 'application/at+jwt' }),
        { sub: 'alice', clientId: 'web', alone: false },
      ],
      [
        'an Entra ID v2 user token (typ JWT, scp, azp)',
        () =>
          signed(
            { client_id: undefined, scope: undefined, scp: 'Orders.Read', azp: 'spa', oid: 'o-1' },
            { typ: 'JWT' },
          ),
        { sub: 'alice', clientId: 'spa', alone: false },
      ],
      [
        'an Entra ID v1 application token (untyped, roles, appid, idtyp app)',
        () =>
          signed(
            {
              sub: 'sp-object-id',
              client_id: undefined,
              scope: undefined,
              roles: ['Orders.All'],
              appid: 'daemon',
              idtyp: 'app',
            },
            { typ: null },
          ),
        { sub: 'sp-object-id', clientId: 'daemon', alone: true },
      ],
      [
        'a client credentials token (RFC 9068 section 2.2: sub = client_id)',
        () => signed({ sub: 'orders-worker', client_id: 'orders-worker' }),
        { sub: 'orders-worker', clientId: 'orders-worker', alone: true },
      ],
      [
        'a user token with no application named',
        () => signed({ client_id: undefined }),
        { sub: 'alice', clientId: undefined, alone: false },
      ],
      [
        'nbf 30 s ahead (within the 60 s tolerance)',
        () => signed({ nbf: now() + 30 }),
        { sub: 'alice', clientId: 'web', alone: false },
      ],
      [
        'expired 30 s ago (within the tolerance)',
        () => signed({ exp: now() - 30 }),
        { sub: 'alice', clientId: 'web', alone: false },
      ],
    ];
  for (const [name, make, expected] of accepts) {
    const verified = await verifyProviderAccessToken(await make(), accepted());
    assert.deepEqual(
      { sub: verified.claims.sub, clientId: verified.clientId, alone: verified.alone, provider: verified.provider },
      { ...expected, provider: 'aad' },
      name,
    );
  }
  // The listed application passes allowedApplications.
  const worker = await signed({ sub: 'orders-worker', client_id: 'orders-worker' });
  assert.equal(
    (await verifyProviderAccessToken(worker, accepted({ allowedApplications: ['orders-worker'] }))).alone,
    true,
  );
});

test("the provider is picked by iss: another provider's keys are never tried", async () => {
  let otherAsked = 0;
  const otherKeys: JWTVerifyGetKey = async () => {
    otherAsked++;
    throw new Error('not these keys');
  };
  const both: AcceptedIssuer[] = [
    { provider: 'other', issuer: OTHER_IDP, keys: otherKeys, audiences: [ORDERS] },
    ...accepted(),
  ];
  assert.equal((await verifyProviderAccessToken(await signed({}), both)).provider, 'aad');
  assert.equal(otherAsked, 0);
});

test("the provider's keys cannot be had: IssuerUnavailable naming the provider, not a refusal", async () => {
  const down: JWTVerifyGetKey = async () => {
    throw new Error('connect ECONNREFUSED 127.0.0.1:1');
  };
  await assert.rejects(verifyProviderAccessToken(await signed({}), accepted({ keys: down })), (error: unknown) => {
    assert.ok(error instanceof IssuerUnavailable);
    assert.equal(error.issuer, 'aad');
    return true;
  });
});

test('accessTokenTypeProblem: RFC 9068 section 4, typ compared without case', () => {
  const rows: Array<[unknown, JWTPayload, boolean]> = [
    ['at+jwt', {}, true],
    ['AT+JWT', {}, true],
    ['application/at+jwt', { nonce: 'n' }, true],
    ['JWT', { scp: 'a' }, true],
    ['jwt', { scope: 'a' }, true],
    [undefined, { roles: ['r'] }, true],
    ['JWT', {}, false],
    [undefined, {}, false],
    [undefined, { scope: 'a', nonce: 'n' }, false],
    ['JWT', { roles: ['r'], nonce: 'n' }, false],
    ['dpop+jwt', { scope: 'a' }, false],
    ['id_token+jwt', { scope: 'a' }, false],
    ['secevent+jwt', { scope: 'a' }, false],
    ['at+jwt ', {}, false],
    [42, { scope: 'a' }, false],
  ];
  for (const [typ, claims, accepted] of rows)
    assert.equal(
      accessTokenTypeProblem(typ, claims) === undefined,
      accepted,
      `${JSON.stringify(typ)} ${JSON.stringify(claims)}`,
    );
});

test('ProviderBearerTokens: a verified token is kept until its exp, per app; a refused one is not kept', async () => {
  let keyLookups = 0;
  const counted: JWTVerifyGetKey = async (header, token) => {
    keyLookups++;
    return keys(header, token);
  };
  const config = parseConfig(
    JSON.stringify({
      publicUrl: SIGNONCE,
      secrets: { encryptionKeys: ['AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'] },
      providers: [{ id: 'aad', type: 'oidc', issuer: IDP, clientId: 'web-client-id' }],
      apps: [
        {
          id: 'orders',
          hosts: ['orders.example.com'],
          upstream: 'http://127.0.0.1:1',
          acceptProviderTokens: [{ provider: 'aad', audiences: [ORDERS] }],
        },
        {
          id: 'billing',
          hosts: ['billing.example.com'],
          upstream: 'http://127.0.0.1:1',
          acceptProviderTokens: [{ provider: 'aad', audiences: ['api://billing'] }],
        },
        { id: 'plain', hosts: ['plain.example.com'], upstream: 'http://127.0.0.1:1' },
      ],
    }),
    'signonce.json',
    {},
  );
  let clock = Date.now();
  const tokens = new ProviderBearerTokens(config, new Map([['aad', { signing: { issuer: IDP, keys: counted } }]]), {
    now: () => clock,
  });
  const [orders, billing, plain] = config.apps as [
    (typeof config.apps)[0],
    (typeof config.apps)[0],
    (typeof config.apps)[0],
  ];
  const token = await signed({ exp: now() + 120 });
  assert.deepEqual([tokens.accepts(orders, token), tokens.accepts(plain, token)], [true, false]);
  await tokens.verify(token, orders);
  await tokens.verify(token, orders);
  assert.equal(keyLookups, 1, 'verified once');
  // Kept per app: the same token at an app with other audiences is verified there, and refused.
  await assert.rejects(tokens.verify(token, billing), /"aud" claim/);
  await assert.rejects(tokens.verify(token, billing), /"aud" claim/);
  assert.equal(keyLookups, 3, 'a refusal is not kept');
  // Past its exp (on the cache's clock) the kept answer goes: the token is verified again.
  clock += 10 * 60_000;
  await tokens.verify(token, orders);
  assert.equal(keyLookups, 4);
});
