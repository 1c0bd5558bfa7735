// DPoP proofs at SignOnce's resource endpoint (RFC 9449 section 4.3): every claim wrong in turn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { checkDpopProof, presentedToken, type ProofContext } from '../../src/openid-provider/dpop.ts';
import { dpopProof } from '../support/dpop.ts';

const URL_ = 'https://auth.example.com/.auth/token';
const TOKEN = 'an-access-token-of-the-openid-provider';

test("a DPoP proof binds the request to the token's key: every claim checked", async () => {
  const keys = await generateKeyPair('ES256', { extractable: true });
  const other = await generateKeyPair('ES256', { extractable: true });
  const jkt = await calculateJwkThumbprint(await exportJWK(keys.publicKey));
  const now = Math.floor(Date.now() / 1000);
  const context: ProofContext = { method: 'GET', url: URL_, accessToken: TOKEN, jkt, nowSeconds: now };
  const good = await dpopProof(keys, TOKEN, { htu: URL_ });
  const privateJwk = await exportJWK(keys.privateKey);
  const rows: Array<[string, string | string[] | undefined, boolean]> = [
    ['control: a proof for this request', good, true],
    [
      'control: htu with a query and fragment (ignored)',
      await dpopProof(keys, TOKEN, { htu: `${URL_}?provider=idp#x` }),
      true,
    ],
    ['control: iat within the window (clock skew)', await dpopProof(keys, TOKEN, { htu: URL_, iat: now - 250 }), true],
    ['no proof', undefined, false],
    ['an empty proof', '', false],
    ['two proofs (repeated DPoP headers)', `${good}, ${good}`, false],
    ['two proofs as an array', [good, good], false],
    ['not a JWT', 'not-a-jwt', false],
    ['typ jwt, not dpop+jwt', await dpopProof(keys, TOKEN, { htu: URL_, typ: 'JWT' }), false],
    [
      'signed by another key than the one in its header',
      `${await dpopProof(keys, TOKEN, { htu: URL_ }).then((p) => p.split('.').slice(0, 2).join('.'))}.${(await dpopProof(other, TOKEN, { htu: URL_ })).split('.')[2]}`,
      false,
    ],
    ["a proof of another key (a thief's)", await dpopProof(other, TOKEN, { htu: URL_ }), false],
    [
      'a private key in the header',
      await new SignJWT({ htm: 'GET', htu: URL_, jti: 'j', iat: now, ath: athOf(TOKEN) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: privateJwk })
        .sign(keys.privateKey),
      false,
    ],
    [
      'a symmetric algorithm (HS256)',
      await new SignJWT({ htm: 'GET', htu: URL_, jti: 'j', iat: now, ath: athOf(TOKEN) })
        .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0' } as never })
        .sign(new TextEncoder().encode('secret')),
      false,
    ],
    [
      'alg none',
      `${b64({ alg: 'none', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey) })}.${b64({ htm: 'GET', htu: URL_, jti: 'j', iat: now, ath: athOf(TOKEN) })}.`,
      false,
    ],
    ['another method (htm)', await dpopProof(keys, TOKEN, { htu: URL_, htm: 'POST' }), false],
    ['another host (htu)', await dpopProof(keys, TOKEN, { htu: 'https://evil.example/.auth/token' }), false],
    ['another path (htu)', await dpopProof(keys, TOKEN, { htu: 'https://auth.example.com/.auth/oidc/me' }), false],
    [
      'http instead of https (htu)',
      await dpopProof(keys, TOKEN, { htu: 'http://auth.example.com/.auth/token' }),
      false,
    ],
    ['no htu', await dpopProof(keys, TOKEN, {}), false],
    ['an unparsable htu', await dpopProof(keys, TOKEN, { htu: 'not a url' }), false],
    ['for another access token (ath)', await dpopProof(keys, 'another-token', { htu: URL_ }), false],
    ['no ath', await dpopProof(keys, TOKEN, { htu: URL_, ath: undefined }), false],
    ['no jti', await dpopProof(keys, TOKEN, { htu: URL_, jti: '' }), false],
    ['an old proof (iat 10 minutes ago)', await dpopProof(keys, TOKEN, { htu: URL_, iat: now - 600 }), false],
    ['a proof from the future (iat in 10 minutes)', await dpopProof(keys, TOKEN, { htu: URL_, iat: now + 600 }), false],
  ];
  for (const [name, proof, ok] of rows) {
    const verdict = await checkDpopProof(proof, context);
    assert.equal(verdict.ok, ok, `${name}: ${JSON.stringify(verdict)}`);
  }
});

test('the access token of an Authorization header: Bearer or DPoP, one token68', () => {
  assert.deepEqual(presentedToken('Bearer abc.DEF-_~+/=='), { scheme: 'Bearer', token: 'abc.DEF-_~+/==' });
  assert.deepEqual(presentedToken('dpop abc'), { scheme: 'DPoP', token: 'abc' });
  for (const hostile of [
    undefined,
    '',
    'Bearer',
    'Bearer ',
    'Basic abc',
    'Bearer a b',
    'DPoP a,b',
    'Bearer a\u0000',
    'Bearerabc',
  ]) {
    assert.equal(presentedToken(hostile), undefined, JSON.stringify(hostile));
  }
});

const athOf = (token: string) => createHash('sha256').update(token).digest('base64url');
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
