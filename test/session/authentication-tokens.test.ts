// Authentication tokens: issued by SignOnce's own keys, refused in every other shape. Each row of the
// hostile table is an attack from RFC 8725 (JWT Best Current Practices) or a plain mistake.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { join } from 'node:path';
import { SignJWT, type JWK } from 'jose';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import {
  AUTHENTICATION_TOKEN_TYPE,
  AuthenticationTokens,
  TokenRefused,
  type TokenRefusal,
} from '../../src/session/authentication-tokens.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { tempDir } from '../support/tmp.ts';
import { tamperedSignature } from '../support/tokens.ts';

const ISSUER = 'https://auth.example.com';
const HOUR = 3_600_000;

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

describe('authentication tokens', () => {
  let store: Store;
  let remove: () => Promise<void>;
  let tokens: AuthenticationTokens;
  let clock = Date.UTC(2026, 10, 29, 12);
  const now = () => clock;

  before(async () => {
    const temp = await tempDir();
    remove = temp.remove;
    store = await openStore(`sqlite:${join(temp.dir, 'signonce.db')}`, { keyring: new Keyring([generateKey()]), now });
    tokens = await AuthenticationTokens.open(store, { issuer: ISSUER, tokenValidityMs: 8 * HOUR, now });
  });
  after(async () => {
    await store?.close();
    await remove?.();
  });

  const session = { accountId: 'account-1', ref: 'session-ref-1', expiresAt: clock + HOUR, data: {} };

  test('a token carries who, for which app, from which session; its key is published; it verifies for its app only', async () => {
    const token = await tokens.issue(session, 'app1', 'google');
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString());
    const published = tokens.jwks().keys;
    assert.equal(header.typ, AUTHENTICATION_TOKEN_TYPE);
    assert.equal(header.alg, 'EdDSA');
    assert.deepEqual(
      published.map((k) => k.kid),
      [header.kid],
    );
    assert.ok(
      published.every((k) => !('d' in k)),
      'public halves only',
    );
    const verified = await tokens.verify(token, ['app1']);
    assert.deepEqual(
      { ...verified, iat: undefined },
      {
        iss: ISSUER,
        aud: 'app1',
        sub: 'account-1',
        uid: tokens.pairwiseId('account-1', 'app1'),
        idp: 'google',
        sid: 'session-ref-1',
        iat: undefined,
        exp: Math.floor(session.expiresAt / 1000),
      },
    );
    assert.ok((await tokens.verify(token, ['app2', 'app1'])).sub, 'accepted where the app trusts app1');
    await assert.rejects(
      tokens.verify(token, ['app2']),
      (e: unknown) => e instanceof TokenRefused && e.reason === 'wrong-audience',
    );
  });

  test("a token carries how its session's sign-in authenticated (amr, acr), as the provider said it", async () => {
    const claims = [
      { typ: 'sub', val: 'u1' },
      { typ: 'amr', val: 'pwd' },
      { typ: 'amr', val: 'otp' },
      { typ: 'acr', val: 'urn:example:mfa' },
    ];
    const signedIn = { ...session, data: { user: { provider: 'idp', subject: 'u1', name: 'U', claims } } };
    const verified = await tokens.verify(await tokens.issue(signedIn, 'app1', 'idp'), ['app1']);
    assert.deepEqual([verified.amr, verified.acr], [['pwd', 'otp'], 'urn:example:mfa']);
    const twoAcr = { ...signedIn, data: { user: { ...signedIn.data.user, claims: [...claims, claims[3]!] } } };
    const ambiguous = await tokens.verify(await tokens.issue(twoAcr, 'app1', 'idp'), ['app1']);
    assert.equal('acr' in ambiguous, false, 'several acr claims are no answer');
  });

  test('pairwise ids: stable for one app, different between apps and accounts, unjoinable', () => {
    const a1 = tokens.pairwiseId('account-1', 'app1');
    assert.equal(tokens.pairwiseId('account-1', 'app1'), a1);
    assert.notEqual(tokens.pairwiseId('account-1', 'app2'), a1);
    assert.notEqual(tokens.pairwiseId('account-2', 'app1'), a1);
    assert.notEqual(tokens.pairwiseId('account-1a', 'pp1'), tokens.pairwiseId('account-1', 'app1'));
    assert.ok(!a1.includes('account'), 'the account id cannot be read from it');
  });

  test('the hostile table: every forged, confused, foreign or stale token is refused, saying why', async () => {
    const good = await tokens.issue(session, 'app1', 'google');
    const [goodHeader, goodPayload, goodSignature] = good.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(goodPayload, 'base64url').toString()) as Record<string, unknown>;
    const [ours] = await store.listSigningKeys();
    const ourPrivate = createPrivateKey({ key: ours!.privateJwk, format: 'jwk' } as never);
    const publicJwk = ours!.publicJwk as JWK;
    /** Signed by SignOnce's real key, with any header and claims (written by hand: jose refuses to sign some): only the checks can refuse it. */
    const signed = (header: Record<string, unknown>, body: Record<string, unknown> | string = payload) => {
      const input = `${b64({ alg: 'EdDSA', kid: ours!.kid, typ: AUTHENTICATION_TOKEN_TYPE, ...header })}.${b64(body)}`;
      return `${input}.${sign(null, Buffer.from(input), ourPrivate).toString('base64url')}`;
    };
    const hs256 = (secret: Buffer | string) => {
      const head = b64({ alg: 'HS256', kid: ours!.kid, typ: AUTHENTICATION_TOKEN_TYPE });
      return `${head}.${goodPayload}.${createHmac('sha256', secret).update(`${head}.${goodPayload}`).digest('base64url')}`;
    };
    const otherKey = generateKeyPairSync('ed25519');
    const foreign = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'EdDSA', kid: ours!.kid, typ: AUTHENTICATION_TOKEN_TYPE })
      .sign(otherKey.privateKey);
    const es256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const seconds = Math.floor(clock / 1000);
    const publicPem = createPublicKey({ key: publicJwk, format: 'jwk' } as never).export({
      type: 'spki',
      format: 'pem',
    });

    const cases: Array<[string, string | Promise<string>, TokenRefusal]> = [
      [
        'alg none, unsigned',
        `${b64({ alg: 'none', typ: AUTHENTICATION_TOKEN_TYPE })}.${goodPayload}.`,
        'wrong-algorithm',
      ],
      [
        'alg none, with the real signature',
        `${b64({ alg: 'none', kid: ours!.kid, typ: AUTHENTICATION_TOKEN_TYPE })}.${goodPayload}.${goodSignature}`,
        'wrong-algorithm',
      ],
      [
        'HS256 keyed with the public key x bytes',
        hs256(Buffer.from(String(publicJwk.x), 'base64url')),
        'wrong-algorithm',
      ],
      ['HS256 keyed with the public JWK as JSON', hs256(JSON.stringify(publicJwk)), 'wrong-algorithm'],
      ['HS256 keyed with the public key as PEM', hs256(publicPem), 'wrong-algorithm'],
      [
        'ES256 by another key, claiming our kid',
        new SignJWT(payload)
          .setProtectedHeader({ alg: 'ES256', kid: ours!.kid, typ: AUTHENTICATION_TOKEN_TYPE })
          .sign(es256.privateKey),
        'wrong-algorithm',
      ],
      ['another Ed25519 key claiming our kid', foreign, 'bad-signature'],
      ['unknown kid', signed({ kid: 'not-ours' }), 'unknown-key'],
      ['kid path injection', signed({ kid: '../../../../dev/null' }), 'unknown-key'],
      ['kid SQL injection', signed({ kid: "' OR '1'='1" }), 'unknown-key'],
      ['no kid', signed({ kid: undefined }), 'unknown-key'],
      ['jku header (never followed)', signed({ jku: 'https://evil.example/jwks.json' }), 'forbidden-header'],
      ['x5u header', signed({ x5u: 'https://evil.example/cert.pem' }), 'forbidden-header'],
      [
        'embedded jwk header',
        signed({ jwk: { kty: 'OKP', crv: 'Ed25519', x: String(publicJwk.x) } }),
        'forbidden-header',
      ],
      ['x5c header', signed({ x5c: ['MIIB'] }), 'forbidden-header'],
      ['crit header', signed({ crit: ['exp'] }), 'forbidden-header'],
      ['typ missing', signed({ typ: undefined }), 'wrong-type'],
      ['typ JWT (an ID token, say)', signed({ typ: 'JWT' }), 'wrong-type'],
      ['typ at+jwt (an access token)', signed({ typ: 'at+jwt' }), 'wrong-type'],
      ['typ in other case', signed({ typ: AUTHENTICATION_TOKEN_TYPE.toUpperCase() }), 'wrong-type'],
      ['wrong issuer', signed({}, { ...payload, iss: 'https://evil.example' }), 'wrong-issuer'],
      ['no issuer', signed({}, { ...payload, iss: undefined }), 'wrong-issuer'],
      ['another app', signed({}, { ...payload, aud: 'app2' }), 'wrong-audience'],
      ['several audiences', signed({}, { ...payload, aud: ['app1', 'app2'] }), 'wrong-audience'],
      ['expired 6 minutes ago', signed({}, { ...payload, exp: seconds - 360 }), 'expired'],
      ['no expiry', signed({}, { ...payload, exp: undefined }), 'missing-claim'],
      ['no session', signed({}, { ...payload, sid: undefined }), 'missing-claim'],
      ['subject not a string', signed({}, { ...payload, sub: 42 }), 'missing-claim'],
      [
        'payload changed after signing',
        `${goodHeader}.${b64({ ...payload, sub: 'account-2' })}.${goodSignature}`,
        'bad-signature',
      ],
      ['signature changed', tamperedSignature(good), 'bad-signature'],
      ['empty', '', 'malformed'],
      ['not a JWT', 'a.b.c', 'malformed'],
      ['two parts', `${goodHeader}.${goodPayload}`, 'malformed'],
      ['payload not JSON, signed', signed({}, 'not json'), 'malformed'],
      ['payload a JSON list, signed', signed({}, '[1,2]'), 'malformed'],
    ];
    for (const [name, token, reason] of cases) {
      await assert.rejects(
        tokens.verify(await token, ['app1']),
        (e: unknown) => {
          assert.ok(e instanceof TokenRefused, `${name}: ${String(e)}`);
          assert.equal(e.reason, reason, `${name}: ${e.message}`);
          return true;
        },
        name,
      );
    }
    assert.ok(
      await tokens.verify(await signed({}, { ...payload, exp: seconds - 240 }), ['app1']),
      'within the 5-minute skew',
    );
    assert.ok(
      await tokens.verify(await signed({}, { ...payload, exp: seconds - 3600 }), ['app1'], 2 * 3600),
      'within a refresh grace',
    );
  });

  test('legacy HS256 apps: their tokens carry an HMAC under their own secret, checked only against it and only for that app', async () => {
    const secret = new TextEncoder().encode('legacy-app-secret-of-at-least-32-bytes!');
    const legacy = await AuthenticationTokens.open(store, {
      issuer: ISSUER,
      tokenValidityMs: 8 * HOUR,
      now,
      hmacSecrets: new Map([['legacy', secret]]),
    });
    const token = await legacy.issue(session, 'legacy', 'google');
    assert.equal(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).alg, 'HS256');
    // What the legacy backend does: an HMAC check with the shared secret.
    const { jwtVerify } = await import('jose');
    assert.equal(
      (await jwtVerify(token, secret, { audience: 'legacy', issuer: ISSUER, currentDate: new Date(clock) })).payload
        .sub,
      'account-1',
    );
    assert.equal((await legacy.verify(token, ['legacy'])).aud, 'legacy');
    assert.equal(
      (await legacy.verify(token, ['app1', 'legacy'])).aud,
      'legacy',
      'accepted by an app trusting the legacy app',
    );
    const refuse = (promise: Promise<unknown>, reason: TokenRefusal) =>
      assert.rejects(promise, (e: unknown) => e instanceof TokenRefused && e.reason === reason);
    await refuse(legacy.verify(token, ['app1']), 'wrong-algorithm');
    await refuse(tokens.verify(token, ['legacy']), 'wrong-algorithm');
    // Signed with the legacy secret but claiming another app: the secret only speaks for its app.
    const [, payload] = token.split('.') as [string, string];
    const forgedFor = async (aud: string, key: Uint8Array) =>
      new SignJWT({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), aud })
        .setProtectedHeader({ alg: 'HS256', kid: 'hs256:legacy', typ: AUTHENTICATION_TOKEN_TYPE })
        .sign(key);
    await refuse(legacy.verify(await forgedFor('app1', secret), ['app1', 'legacy']), 'wrong-audience');
    await refuse(
      legacy.verify(await forgedFor('legacy', new TextEncoder().encode('another-secret-of-at-least-32-bytes!!')), [
        'legacy',
      ]),
      'bad-signature',
    );
    const asymmetric = await legacy.issue(session, 'app1', 'google');
    assert.equal((await legacy.verify(asymmetric, ['app1'])).aud, 'app1', "other apps keep SignOnce's keys");
  });

  test('rotation: tokens of the retired key verify until they expire; then the key is unpublished', async () => {
    const before = await tokens.issue(session, 'app1', 'google');
    const [old] = await store.listSigningKeys();
    const { generateSigningKey } = await import('../../src/crypto/signing-keys.ts');
    clock += 1000;
    await store.addSigningKey(await generateSigningKey('ES256'));
    await store.retireSigningKey(old!.kid);
    await tokens.reload();
    const afterwards = await tokens.issue(session, 'app1', 'google');
    assert.notEqual(JSON.parse(Buffer.from(afterwards.split('.')[0]!, 'base64url').toString()).kid, old!.kid);
    assert.ok(await tokens.verify(before, ['app1']));
    assert.ok(await tokens.verify(afterwards, ['app1']));
    assert.equal(tokens.jwks().keys.length, 2);
    clock += 8 * HOUR;
    assert.deepEqual(
      tokens.jwks().keys.map((k) => k.alg),
      ['ES256'],
      'the old key is gone once its tokens cannot be used',
    );
  });
});
