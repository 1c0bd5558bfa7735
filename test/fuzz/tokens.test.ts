// Properties of the authentication-token verifiers: verifyAuthenticationToken (src/session, the
// gateway's, with a local key set), AuthenticationTokens.verify (with legacy HS256 apps) and
// `signonce/verify` (an app backend's, with the key set fetched), against an oracle of what an
// authentication token is (DESIGN.md; RFC 8725), not against the verifier's code:
// - whatever the string, they refuse with TokenRefused and nothing else;
// - a token is accepted only if it was signed by the published key its `kid` names, with that
//   key's algorithm, typ signonce-auth+jwt, no key-pointing or crit header, iss = publicUrl, aud =
//   the app (one string), sub/uid/idp/sid strings, iat, and exp not past (within the clock skew);
//   for tokens signed with our real keys, exactly those are accepted;
// - a valid token with any single byte of its header, payload or signature changed is refused;
//   one with any character changed is accepted only if it decodes to the same signed bytes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import { createLocalJWKSet, type JWK } from 'jose';
import { TokenRefused as PublicTokenRefused, createVerifier } from 'signonce/verify';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { generateSigningKey } from '../../src/crypto/signing-keys.ts';
import {
  AUTHENTICATION_TOKEN_TYPE,
  AuthenticationTokens,
  CLOCK_SKEW_SECONDS,
  TokenRefused,
  verifyAuthenticationToken,
} from '../../src/session/authentication-tokens.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { tempDir } from '../support/tmp.ts';
import { anyString, b64url, params } from './support.ts';

const ISSUER = 'https://auth.example.com';
const APP = 'app1';
const NOW = 1_900_000_000; // seconds
const ALGORITHMS = ['EdDSA', 'ES256', 'RS256'];
const FORBIDDEN = ['jku', 'x5u', 'jwk', 'x5c', 'crit'];
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

interface Signer {
  readonly name: string;
  readonly kid?: string;
  readonly alg?: string;
  sign(input: string): string;
}
const asymmetric = (name: string, key: KeyObject, alg: 'EdDSA' | 'ES256', kid?: string): Signer => ({
  name,
  alg,
  ...(kid ? { kid } : {}),
  sign: (input) =>
    sign(
      alg === 'EdDSA' ? null : 'sha256',
      Buffer.from(input),
      alg === 'EdDSA' ? key : { key, dsaEncoding: 'ieee-p1363' },
    ).toString('base64url'),
});

const ed = await generateSigningKey('EdDSA');
const es = await generateSigningKey('ES256');
const published = [ed.publicJwk, es.publicJwk] as JWK[];
const ours = [
  asymmetric('ours EdDSA', createPrivateKey({ key: ed.privateJwk, format: 'jwk' } as never), 'EdDSA', ed.kid),
  asymmetric('ours ES256', createPrivateKey({ key: es.privateJwk, format: 'jwk' } as never), 'ES256', es.kid),
];
const strangers: Signer[] = [
  asymmetric('another Ed25519 key', generateKeyPairSync('ed25519').privateKey, 'EdDSA'),
  asymmetric('another P-256 key', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'ES256'),
  {
    name: 'HMAC keyed with our public key',
    sign: (input) =>
      createHmac('sha256', Buffer.from(String(ed.publicJwk.x), 'base64url'))
        .update(input)
        .digest('base64url'),
  },
  { name: 'no signature', sign: () => '' },
];

const jwt = (header: unknown, payload: unknown, signer: Signer) => {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${signer.sign(input)}`;
};

/** What the oracle needs to know of a token made by the generator. */
interface Made {
  token: string;
  header: Record<string, unknown>;
  payload: unknown;
  signer: Signer;
}

/** Mostly the right value, sometimes a wrong one, sometimes none: every check is reached, and passed. */
const usually = <T>(right: fc.Arbitrary<T>, wrong: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 12, arbitrary: right },
    { weight: 1, arbitrary: wrong },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
const headerArb = fc
  .record({
    alg: usually(
      fc.constantFrom('EdDSA', 'ES256'),
      fc.oneof(fc.constantFrom('RS256', 'HS256', 'none', 'eddsa', 'PS256'), fc.jsonValue()),
    ),
    kid: usually(
      fc.constantFrom(ed.kid, es.kid),
      fc.oneof(fc.constantFrom('not-ours', '../../etc/passwd', ''), fc.jsonValue()),
    ),
    typ: usually(
      fc.constant(AUTHENTICATION_TOKEN_TYPE),
      fc.oneof(
        fc.constantFrom(
          'JWT',
          'at+jwt',
          AUTHENTICATION_TOKEN_TYPE.toUpperCase(),
          `application/${AUTHENTICATION_TOKEN_TYPE}`,
        ),
        fc.jsonValue(),
      ),
    ),
    extra: fc.oneof(
      { weight: 4, arbitrary: fc.constant({}) },
      {
        weight: 1,
        arbitrary: fc.dictionary(fc.constantFrom(...FORBIDDEN, 'b64', 'cty', 'x', 'zip'), fc.jsonValue(), {
          maxKeys: 2,
        }),
      },
    ),
  })
  .map(({ extra, ...named }) => ({ ...extra, ...named }));
/** Claims around `now`: each one right, wrong in some way, or missing. */
const claimsArb = (now: number) =>
  fc.record({
    iss: usually(
      fc.constant(ISSUER),
      fc.oneof(fc.constantFrom(`${ISSUER}/`, 'https://evil.example', ISSUER.toUpperCase()), fc.jsonValue()),
    ),
    aud: usually(fc.constant(APP), fc.oneof(fc.constantFrom('app2', [APP], [APP, 'app2'], ''), fc.jsonValue())),
    sub: usually(fc.string(), fc.jsonValue()),
    uid: usually(fc.string(), fc.jsonValue()),
    idp: usually(fc.string(), fc.jsonValue()),
    sid: usually(fc.string(), fc.jsonValue()),
    iat: usually(fc.integer({ min: now - 100_000, max: now + 100_000 }), fc.jsonValue()),
    // Around the edge of the clock skew, far either way, or not a number.
    exp: usually(
      fc.integer({ min: now - 2 * CLOCK_SKEW_SECONDS, max: now + 600 }),
      fc.oneof(fc.integer(), fc.double(), fc.jsonValue()),
    ),
    nbf: fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      {
        weight: 1,
        arbitrary: fc.oneof(fc.integer({ min: now - 600, max: now + 2 * CLOCK_SKEW_SECONDS }), fc.jsonValue()),
      },
    ),
  });
const madeArb = (now: number): fc.Arbitrary<Made> =>
  fc
    .tuple(
      headerArb,
      fc.oneof({ weight: 12, arbitrary: claimsArb(now) }, { weight: 1, arbitrary: fc.jsonValue() }),
      fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...ours) },
        { weight: 1, arbitrary: fc.constantFrom(...strangers) },
      ),
      fc.nat(4),
    )
    // Mostly a header that names the signer's key and algorithm, so the claims checks are reached.
    .map(([header, payload, signer, aligned]) => {
      const h = aligned
        ? { ...header, ...(signer.kid ? { kid: signer.kid } : {}), ...(signer.alg ? { alg: signer.alg } : {}) }
        : header;
      return {
        token: jwt(h, payload, signer),
        header: JSON.parse(JSON.stringify(h)) as Record<string, unknown>,
        payload: JSON.parse(JSON.stringify(payload ?? null)),
        signer,
      };
    });

/**
 * The oracle: whether a token made this way is an authentication token for APP at `now`; undefined
 * when a time claim is within `margin` seconds of an edge (a verifier on the real clock).
 */
function isAuthenticationToken({ header, payload, signer }: Made, now: number, margin = 0): boolean | undefined {
  const claims = payload as Record<string, unknown>;
  const key = published.find((k) => k.kid === header.kid);
  const accepted =
    header.typ === AUTHENTICATION_TOKEN_TYPE &&
    FORBIDDEN.every((name) => !(name in header)) &&
    !!key &&
    header.alg === key.alg &&
    signer.kid === key.kid &&
    typeof claims === 'object' &&
    claims !== null &&
    !Array.isArray(claims) &&
    claims.iss === ISSUER &&
    claims.aud === APP &&
    ['sub', 'uid', 'idp', 'sid'].every((c) => typeof claims[c] === 'string') &&
    typeof claims.iat === 'number' &&
    typeof claims.exp === 'number' &&
    claims.exp > now - CLOCK_SKEW_SECONDS &&
    (claims.nbf === undefined || (typeof claims.nbf === 'number' && claims.nbf <= now + CLOCK_SKEW_SECONDS));
  const near = (value: unknown, edge: number) => typeof value === 'number' && Math.abs(value - edge) <= margin;
  if (margin && claims && (near(claims.exp, now - CLOCK_SKEW_SECONDS) || near(claims.nbf, now + CLOCK_SKEW_SECONDS)))
    return undefined;
  return accepted;
}

type Verify = (token: string) => Promise<unknown>;
const local: Verify = (token) =>
  verifyAuthenticationToken(token, createLocalJWKSet({ keys: published }), {
    issuer: ISSUER,
    audiences: [APP],
    algorithms: ALGORITHMS,
    now: NOW,
  });

/** Accepted (the claims), or refused; any other outcome fails the property. */
async function outcome(
  verify: Verify,
  token: string,
  Refused: typeof TokenRefused | typeof PublicTokenRefused,
): Promise<'refused' | Record<string, unknown>> {
  try {
    return (await verify(token)) as Record<string, unknown>;
  } catch (error) {
    assert.ok(error instanceof Refused, `not a TokenRefused: ${String(error)}`);
    return 'refused';
  }
}

// Anything at all, and things shaped like a JWT without being one.
const segment = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64url')),
  fc.jsonValue().map(b64url),
  anyString(10),
);
const garbage = fc.oneof(
  anyString(80),
  fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('.')),
);

/** A valid token with fresh claims at `now`, signed by one of our keys. */
const validArb = (now: number) =>
  fc
    .tuple(fc.constantFrom(...ours), fc.string({ minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 86_400 }))
    .map(([signer, sub, ttl]) =>
      jwt(
        { alg: signer.alg, kid: signer.kid, typ: AUTHENTICATION_TOKEN_TYPE },
        { iss: ISSUER, aud: APP, sub, uid: `u-${sub}`, idp: 'google', sid: 's1', iat: now, exp: now + 60 + ttl },
        signer,
      ),
    );

/** The token with byte `i` of its decoded parts (header, payload, signature in turn) xor `mask`. */
function flipped(token: string, i: number, mask: number): string {
  const parts = token.split('.').map((part) => Buffer.from(part, 'base64url'));
  for (const part of parts) {
    if (i < part.length) {
      part[i]! ^= mask;
      break;
    }
    i -= part.length;
  }
  return parts.map((part) => part.toString('base64url')).join('.');
}
const byteLength = (token: string) =>
  token.split('.').reduce((n, part) => n + Buffer.from(part, 'base64url').length, 0);

/** Checks one verifier against every property above. */
function verifierProperties(
  name: string,
  verify: Verify,
  Refused: typeof TokenRefused | typeof PublicTokenRefused,
  now: number,
  margin: number,
  scale = 1,
) {
  test(`${name}: anything that is not a token is refused with TokenRefused`, async () => {
    await fc.assert(
      fc.asyncProperty(garbage, async (token) => {
        assert.equal(await outcome(verify, token, Refused), 'refused');
      }),
      params(Math.round(500 * scale)),
    );
  });

  test(`${name}: accepts exactly the tokens signed by the named published key with the right header and claims`, async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(madeArb(now), async (made) => {
        const result = await outcome(verify, made.token, Refused);
        const expected = isAuthenticationToken(made, now, margin);
        if (expected === undefined) return;
        assert.equal(
          result !== 'refused',
          expected,
          `${expected ? 'refused' : 'accepted'}: ${JSON.stringify({ header: made.header, payload: made.payload, signer: made.signer.name })}`,
        );
        if (result !== 'refused') {
          accepted++;
          assert.deepEqual(result, made.payload, 'the claims are the signed payload');
        }
      }),
      params(Math.round(1000 * scale)),
    );
    assert.ok(accepted > 0, 'the generator reaches accepted tokens');
  });

  test(`${name}: any changed byte of a valid token is refused; a changed character only if the signed bytes are the same`, async () => {
    /** A changed token may be accepted only if header and payload are the same text and the signature the same bytes. */
    const sameSigned = (changed: string, token: string) => {
      const [h, p, s, extra] = changed.split('.');
      const [oh, op, os] = token.split('.') as [string, string, string];
      return (
        h === oh &&
        p === op &&
        s !== undefined &&
        extra === undefined &&
        Buffer.from(s, 'base64url').equals(Buffer.from(os, 'base64url'))
      );
    };
    await fc.assert(
      fc.asyncProperty(
        validArb(now),
        fc.integer({ min: 1, max: 255 }),
        fc.nat(),
        fc.string({ minLength: 0, maxLength: 1, unit: 'binary-ascii' }),
        fc.boolean(),
        async (token, mask, at, replacement, insert) => {
          assert.notEqual(await outcome(verify, token, Refused), 'refused', 'the valid token is accepted');
          // Every byte of the decoded header, payload and signature, one at a time.
          for (let i = 0; i < byteLength(token); i++)
            assert.equal(await outcome(verify, flipped(token, i, mask), Refused), 'refused', `byte ${i} ^ ${mask}`);
          // Every character replaced by another base64url one (the last of a part carries spare bits).
          for (let i = 0; i < token.length; i++) {
            const changed = token.slice(0, i) + BASE64URL[(at + i) % 64] + token.slice(i + 1);
            if (changed !== token && (await outcome(verify, changed, Refused)) !== 'refused')
              assert.ok(sameSigned(changed, token), `${JSON.stringify(changed)} accepted`);
          }
          // One character of any kind inserted or removed, anywhere.
          const index = at % (token.length + 1);
          const changed = token.slice(0, index) + replacement + token.slice(index + (insert ? 0 : 1));
          if (changed !== token && (await outcome(verify, changed, Refused)) !== 'refused')
            assert.ok(sameSigned(changed, token), `${JSON.stringify(changed)} accepted`);
        },
      ),
      params(Math.max(1, Math.round(6 * scale)), 800),
    );
  });
}

describe('verifyAuthenticationToken (src/session, local key set)', () => {
  verifierProperties('verifyAuthenticationToken', local, TokenRefused, NOW, 0);
});

describe('signonce/verify (keys fetched from the issuer)', () => {
  let fetches = 0;
  const fetchKeys = (async () => {
    fetches++;
    return new Response(JSON.stringify({ keys: published }), { headers: { 'content-type': 'application/json' } });
  }) as unknown as typeof fetch;
  const verifier = createVerifier({
    issuer: ISSUER,
    audience: APP,
    jwksUri: `${ISSUER}/.well-known/jwks.json`,
    fetch: fetchKeys,
  });
  // It reads the real clock: tokens are made around it, and times within a minute of an edge not judged.
  verifierProperties('signonce/verify', verifier, PublicTokenRefused, Math.floor(Date.now() / 1000), 60, 0.5);
  after(() =>
    assert.ok(
      fetches >= 1 && fetches < 50,
      `keys fetched ${fetches} times: once, and again at most every 30 s for an unknown kid`,
    ),
  );
});

describe("AuthenticationTokens.verify (the gateway's, with a legacy HS256 app)", () => {
  const LEGACY = 'legacy';
  const secret = new TextEncoder().encode('legacy-app-secret-of-at-least-32-bytes!');
  let store: Store;
  let remove: () => Promise<void>;
  let tokens: AuthenticationTokens;
  before(async () => {
    const temp = await tempDir();
    remove = temp.remove;
    store = await openStore(`sqlite:${join(temp.dir, 'signonce.db')}`, {
      keyring: new Keyring([generateKey()]),
      now: () => NOW * 1000,
    });
    tokens = await AuthenticationTokens.open(store, {
      issuer: ISSUER,
      tokenValidityMs: 8 * 3_600_000,
      now: () => NOW * 1000,
      hmacSecrets: new Map([[LEGACY, secret]]),
    });
  });
  after(async () => {
    await store?.close();
    await remove?.();
  });

  const hmacSigners: Signer[] = [
    {
      name: 'the legacy secret',
      kid: `hs256:${LEGACY}`,
      alg: 'HS256',
      sign: (input) => createHmac('sha256', secret).update(input).digest('base64url'),
    },
    {
      name: 'another secret',
      alg: 'HS256',
      sign: (input) => createHmac('sha256', 'another-secret-of-at-least-32-bytes!!').update(input).digest('base64url'),
    },
    strangers[2]!,
  ];
  const audiences = fc.subarray([APP, LEGACY, 'app2'], { minLength: 1 });

  test('an HS256 token is accepted only when signed with the secret of an accepted app that is its one audience', async () => {
    const made = fc
      .tuple(headerArb, claimsArb(NOW), fc.constantFrom(...hmacSigners), fc.constantFrom(APP, LEGACY), fc.boolean())
      .map(([header, claims, signer, aud, aligned]) => {
        const h = { ...header, alg: 'HS256', ...(aligned ? { kid: `hs256:${aud}` } : {}) };
        const payload = claims.aud === APP ? { ...claims, aud } : claims;
        return {
          token: jwt(h, payload, signer),
          header: h,
          payload: JSON.parse(JSON.stringify(payload)) as Record<string, unknown>,
          signer,
        };
      });
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(made, audiences, async ({ token, header, payload, signer }, accepting) => {
        if ((await outcome((t) => tokens.verify(t, accepting), token, TokenRefused)) === 'refused') return;
        accepted++;
        assert.equal(signer.name, 'the legacy secret');
        assert.ok(
          payload.aud === LEGACY && accepting.includes(LEGACY),
          `for ${String(payload.aud)}, accepting ${accepting.join(', ')}`,
        );
        assert.ok(
          header.typ === AUTHENTICATION_TOKEN_TYPE &&
            payload.iss === ISSUER &&
            typeof payload.exp === 'number' &&
            payload.exp > NOW - CLOCK_SKEW_SECONDS,
        );
      }),
      params(500),
    );
    assert.ok(accepted > 0);
  });

  test('tokens it issues: accepted exactly where their app is accepted; any changed byte refused', async () => {
    const session = { accountId: 'account-1', ref: 'session-1', expiresAt: (NOW + 3600) * 1000, data: {} };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(APP, LEGACY),
        audiences,
        fc.integer({ min: 1, max: 255 }),
        async (app, accepting, mask) => {
          const token = await tokens.issue(session, app, 'google');
          const result = await outcome((t) => tokens.verify(t, accepting), token, TokenRefused);
          assert.equal(result !== 'refused', accepting.includes(app));
          for (let i = 0; i < byteLength(token); i++) {
            assert.equal(
              await outcome((t) => tokens.verify(t, [APP, LEGACY]), flipped(token, i, mask), TokenRefused),
              'refused',
              `byte ${i} ^ ${mask}`,
            );
          }
        },
      ),
      params(10, 300),
    );
  });
});
