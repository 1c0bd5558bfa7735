// JWT attacks on authentication tokens, end to end: each forged token is presented to a running
// gateway (X-ZUMO-AUTH and Authorization: Bearer) and to `signonce/verify` as an app backend runs
// it (keys fetched from the gateway's JWKS). Many are signed with SignOnce's real private key
// (read from the store by the test), so that only the check the row is about can refuse them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import * as client from 'openid-client';
import { fetch as undiciFetch } from 'undici';
import { AUTHENTICATION_TOKEN_TYPE as TYP } from '../../src/session/authentication-tokens.ts';
import { TokenRefused, createVerifier } from '../../src/verify/index.ts';
import { nativeDevSignIn } from '../support/sign-in.ts';
import { UserAgent, loopback } from '../support/user-agent.ts';
import {
  OIDC_CLIENT_SECRET,
  RP,
  devSignInAt,
  named,
  signingKey,
  startSecurityGateway,
  type Row,
  type SecurityGateway,
} from './support.ts';

const fetchLocal = ((input: string | URL, init?: object) =>
  undiciFetch(input, { ...init, dispatcher: loopback })) as unknown as typeof fetch;
const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** What a row builds its token from. */
interface Material {
  /** A real token of app1 (alice's, live session). */
  readonly real: string;
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  /** Signed by SignOnce's real key, with any header fields and claims (undefined removes one). */
  signed(header?: Record<string, unknown>, payload?: Record<string, unknown> | string): string;
  /** Signed by the attacker's own Ed25519 key. */
  forged(header?: Record<string, unknown>, payload?: Record<string, unknown> | string): string;
  /** HS256 under `key`, SignOnce's typ and kid. */
  hs256(key: string | Buffer): string;
  readonly publicJwk: Record<string, unknown>;
  readonly attackerPublicJwk: Record<string, unknown>;
  /** An ID token of SignOnce's own OpenID Provider for client `app2` (same key and issuer; `app2` is also an app). */
  readonly opIdToken: string;
  readonly now: number;
}

interface JwtRow extends Row {
  readonly token: (m: Material) => string;
  /** The refusal's reason at the gateway (and at signonce/verify, unless `verify` says otherwise); `accepted` for controls. */
  readonly reason: string;
  /** What signonce/verify, which cannot see sessions, answers when it differs. */
  readonly verify?: string;
  /** The gateway's reason when sent as `Authorization: Bearer`, where it differs (typed as SignOnce's access token, it meets that verifier). */
  readonly bearerReason?: string;
}

const JWT_BCP = 'RFC 8725';
const rows: JwtRow[] = [
  { attack: 'control: the real token', reference: 'RFC 7519', token: (m) => m.real, reason: 'accepted' },
  {
    attack: 'alg none, unsigned',
    reference: `${JWT_BCP} 2.1 and 3.1; CWE-347`,
    reason: 'wrong-algorithm',
    token: (m) => `${b64({ ...m.header, alg: 'none' })}.${b64(m.payload)}.`,
  },
  {
    attack: 'alg "None" and "NONE"',
    reference: `${JWT_BCP} 3.1; CWE-347`,
    reason: 'wrong-algorithm',
    token: (m) => `${b64({ ...m.header, alg: 'NONE' })}.${b64(m.payload)}.`,
  },
  {
    attack: 'alg none keeping the real signature',
    reference: `${JWT_BCP} 3.1; CWE-347`,
    reason: 'wrong-algorithm',
    token: (m) => `${b64({ ...m.header, alg: 'none' })}.${m.real.split('.')[1]}.${m.real.split('.')[2]}`,
  },
  {
    attack: "HS256 keyed with the public key's x (HS/asymmetric confusion)",
    reference: `${JWT_BCP} 2.1 and 3.1; CWE-327`,
    reason: 'wrong-algorithm',
    token: (m) => m.hs256(Buffer.from(String(m.publicJwk.x), 'base64url')),
  },
  {
    attack: 'HS256 keyed with the public JWK as published (JSON)',
    reference: `${JWT_BCP} 3.1; CWE-327`,
    reason: 'wrong-algorithm',
    token: (m) => m.hs256(JSON.stringify(m.publicJwk)),
  },
  {
    attack: 'HS256 keyed with the public key as PEM',
    reference: `${JWT_BCP} 3.1; CWE-327`,
    reason: 'wrong-algorithm',
    token: (m) =>
      m.hs256(
        createPublicKey({ key: m.publicJwk, format: 'jwk' } as never)
          .export({ type: 'spki', format: 'pem' })
          .toString(),
      ),
  },
  {
    attack: 'HS256 with an empty key and kid pointing at /dev/null',
    reference: `${JWT_BCP} 3.10; CWE-22`,
    reason: 'wrong-algorithm',
    token: (m) => {
      const h = b64({ alg: 'HS256', typ: TYP, kid: '../../../../../../dev/null' });
      return `${h}.${b64(m.payload)}.${createHmac('sha256', '')
        .update(`${h}.${b64(m.payload)}`)
        .digest('base64url')}`;
    },
  },
  {
    attack: "kid path traversal, attacker's key",
    reference: `${JWT_BCP} 3.10; CWE-22`,
    reason: 'unknown-key',
    token: (m) => m.forged({ kid: '../../../../../../etc/passwd' }),
  },
  {
    attack: "kid SQL injection, attacker's key",
    reference: `${JWT_BCP} 3.10; CWE-89`,
    reason: 'unknown-key',
    token: (m) => m.forged({ kid: "' UNION SELECT 'attacker' -- " }),
  },
  {
    attack: "unknown kid, attacker's key",
    reference: `${JWT_BCP} 3.10`,
    reason: 'unknown-key',
    token: (m) => m.forged({ kid: 'not-a-kid-of-signonce' }),
  },
  {
    attack: "no kid, attacker's key",
    reference: `${JWT_BCP} 3.10`,
    reason: 'unknown-key',
    token: (m) => m.forged({ kid: undefined }),
  },
  {
    attack: 'kid not a string',
    reference: `${JWT_BCP} 3.10`,
    reason: 'unknown-key',
    token: (m) => m.forged({ kid: ['a', 'b'] }),
  },
  {
    attack: "SignOnce's kid, attacker's key",
    reference: `${JWT_BCP} 3.1; CWE-347`,
    reason: 'bad-signature',
    token: (m) => m.forged(),
  },
  {
    attack: "jku naming the attacker's key set",
    reference: `${JWT_BCP} 3.10; RFC 7515 4.1.2; CWE-918`,
    reason: 'forbidden-header',
    token: (m) => m.forged({ jku: 'http://127.0.0.1:9/jwks.json' }),
  },
  {
    attack: 'jku on a token signed by the real key (the header alone refuses it)',
    reference: `${JWT_BCP} 3.10`,
    reason: 'forbidden-header',
    token: (m) => m.signed({ jku: 'http://127.0.0.1:9/jwks.json' }),
  },
  {
    attack: 'x5u',
    reference: `${JWT_BCP} 3.10; RFC 7515 4.1.5; CWE-918`,
    reason: 'forbidden-header',
    token: (m) => m.signed({ x5u: 'http://127.0.0.1:9/cert.pem' }),
  },
  {
    attack: "embedded jwk: the attacker's public key, signed by the attacker",
    reference: `${JWT_BCP} 3.10; RFC 7515 4.1.3; CWE-347`,
    reason: 'forbidden-header',
    token: (m) => m.forged({ jwk: m.attackerPublicJwk }),
  },
  {
    attack: 'x5c',
    reference: `${JWT_BCP} 3.10; RFC 7515 4.1.6`,
    reason: 'forbidden-header',
    token: (m) => m.signed({ x5c: ['MIIBszCCAVmgAwIBAgIU'] }),
  },
  {
    attack: 'crit naming an extension',
    reference: 'RFC 7515 4.1.11',
    reason: 'forbidden-header',
    token: (m) => m.signed({ crit: ['exp'] }),
  },
  { attack: 'typ JWT', reference: `${JWT_BCP} 3.11`, reason: 'wrong-type', token: (m) => m.signed({ typ: 'JWT' }) },
  {
    attack: 'typ missing',
    reference: `${JWT_BCP} 3.11`,
    reason: 'wrong-type',
    token: (m) => m.signed({ typ: undefined }),
  },
  {
    attack: 'typ at+jwt (an access token)',
    reference: `${JWT_BCP} 3.11; RFC 9068`,
    reason: 'wrong-type',
    // As a bearer token it claims to be an access token of SignOnce's OpenID Provider: refused by
    // that verifier, which finds no client_id or jti (RFC 9068 section 2.2).
    bearerReason: 'missing-claim',
    token: (m) => m.signed({ typ: 'at+jwt' }),
  },
  {
    attack: 'typ in another spelling (refused, failing closed)',
    reference: `${JWT_BCP} 3.11`,
    reason: 'wrong-type',
    token: (m) => m.signed({ typ: `application/${TYP.toUpperCase()}` }),
  },
  {
    attack: "an ID token of SignOnce's own OpenID Provider (same key, same issuer, aud = an app id)",
    reference: `${JWT_BCP} 2.8 and 3.11 (cross-JWT confusion); CWE-345`,
    reason: 'wrong-type',
    token: (m) => m.opIdToken,
  },
  {
    attack: 'another app as audience',
    reference: 'RFC 7519 4.1.3; ASVS 4.0.3 3.5.3',
    reason: 'wrong-audience',
    token: (m) => m.signed({}, { ...m.payload, aud: 'guarded' }),
  },
  {
    attack: 'several audiences including this app',
    reference: `${JWT_BCP} 3.9`,
    reason: 'wrong-audience',
    token: (m) => m.signed({}, { ...m.payload, aud: ['app1', 'guarded'] }),
  },
  {
    attack: 'another issuer',
    reference: 'RFC 7519 4.1.1; ASVS 4.0.3 3.5.3',
    reason: 'wrong-issuer',
    token: (m) => m.signed({}, { ...m.payload, iss: 'https://evil.example' }),
  },
  {
    attack: 'the issuer with a trailing slash',
    reference: 'RFC 7519 4.1.1',
    reason: 'wrong-issuer',
    token: (m) => m.signed({}, { ...m.payload, iss: `${String(m.payload.iss)}/` }),
  },
  {
    attack: 'expired an hour ago',
    reference: 'RFC 7519 4.1.4; ASVS 4.0.3 3.5.3',
    reason: 'expired',
    token: (m) => m.signed({}, { ...m.payload, exp: m.now - 3600 }),
  },
  {
    attack: 'not valid before an hour from now (nbf)',
    reference: 'RFC 7519 4.1.5; ASVS 4.0.3 3.5.3',
    reason: 'missing-claim',
    token: (m) => m.signed({}, { ...m.payload, nbf: m.now + 3600 }),
  },
  {
    attack: 'no session claim (sid)',
    reference: 'RFC 7519',
    reason: 'missing-claim',
    token: (m) => m.signed({}, { ...m.payload, sid: undefined }),
  },
  {
    attack: 'a session that does not exist (signed by the real key)',
    reference: 'ASVS 4.0.3 3.3.1; CWE-613',
    reason: 'session-ended',
    verify: 'accepted',
    token: (m) => m.signed({}, { ...m.payload, sid: 'no-such-session' }),
  },
  {
    attack: 'another account on the real session (sub changed, signed by the real key)',
    reference: 'CWE-639',
    reason: 'session-ended',
    verify: 'accepted',
    token: (m) => m.signed({}, { ...m.payload, sub: '00000000-0000-0000-0000-000000000000' }),
  },
  {
    attack: 'payload changed after signing',
    reference: 'CWE-347',
    reason: 'bad-signature',
    token: (m) => {
      const [h, , s] = m.real.split('.');
      return `${h}.${b64({ ...m.payload, sub: 'x' })}.${s}`;
    },
  },
  {
    attack: 'signature removed (two segments)',
    reference: 'RFC 7515 7.1',
    reason: 'malformed',
    token: (m) => m.real.split('.').slice(0, 2).join('.'),
  },
  {
    attack: 'five segments (JWE-shaped)',
    reference: 'RFC 7516 7.1',
    reason: 'malformed',
    token: (m) => `${m.real}.e30.e30`,
  },
  {
    attack: 'base64 padding added to the payload',
    reference: 'RFC 7515 2 (base64url without padding)',
    reason: 'bad-signature',
    token: (m) => {
      const [h, p, s] = m.real.split('.');
      return `${h}.${p}==.${s}`;
    },
  },
  {
    attack: "header JSON nested 3,000 deep (within the header size limit), attacker's key",
    reference: 'CWE-674; CWE-400',
    reason: 'unknown-key',
    token: (m) => m.forged({ kid: 'k', x: JSON.parse(`${'['.repeat(3000)}${']'.repeat(3000)}`) }),
  },
];

describe('JWT attacks on authentication tokens', () => {
  let gw: SecurityGateway;
  let material: Material;
  let verify: (token: string) => Promise<unknown>;

  before(async () => {
    gw = await startSecurityGateway();
    const { authenticationToken: real } = await nativeDevSignIn(
      gw.url('app1.localhost', ''),
      'myapp://easyauth.callback',
      { user_id: 'alice@example.com' },
    );
    const key = await signingKey(gw);
    const ours = createPrivateKey({ key: key.privateJwk, format: 'jwk' } as never);
    const attacker = generateKeyPairSync('ed25519');
    const header = JSON.parse(Buffer.from(real.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
    const payload = JSON.parse(Buffer.from(real.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const signWith =
      (privateKey: KeyObject) =>
      (extra: Record<string, unknown> = {}, body: Record<string, unknown> | string = payload) => {
        const input = `${b64({ ...header, ...extra })}.${b64(body)}`;
        return `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
      };
    material = {
      real,
      header,
      payload,
      now: Math.floor(Date.now() / 1000),
      publicJwk: { ...key.publicJwk },
      signed: signWith(ours),
      forged: signWith(attacker.privateKey),
      attackerPublicJwk: attacker.publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
      hs256: (secret) => {
        const input = `${b64({ alg: 'HS256', kid: header.kid, typ: TYP })}.${b64(payload)}`;
        return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      },
      opIdToken: await opIdToken(gw),
    };
    verify = createVerifier({ issuer: gw.config.publicUrl, audience: ['app1', 'app2'], fetch: fetchLocal });
  });
  after(() => gw?.close());

  for (const row of rows) {
    test(named(row), row.todo ? { todo: row.todo } : {}, async () => {
      const token = row.token(material);
      for (const carrier of ['x-zumo-auth', 'authorization'] as const) {
        const answer = await new UserAgent().request(gw.url('app2.localhost', '/data'), {
          headers: {
            [carrier]: carrier === 'authorization' ? `Bearer ${token}` : token,
            accept: 'application/json',
            'sec-fetch-mode': 'cors',
          },
        });
        const body = (await answer.json()) as { reason?: string };
        if (row.reason === 'accepted') {
          assert.equal(answer.status, 200, `${carrier}: ${JSON.stringify(body)}`);
          continue;
        }
        assert.equal(answer.status, 401, carrier);
        // A bearer token not of SignOnce's type is the app's business: app2 then finds no session (401, no reason).
        if (carrier === 'x-zumo-auth' || body.reason !== undefined) {
          assert.equal(
            body.reason,
            carrier === 'authorization' ? (row.bearerReason ?? row.reason) : row.reason,
            carrier,
          );
          assert.match(answer.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
        }
      }
      const expected = row.verify ?? row.reason;
      const verdict = await verify(token).then(
        () => 'accepted',
        (error: unknown) => (error instanceof TokenRefused ? error.reason : `not a refusal: ${String(error)}`),
      );
      assert.equal(verdict, expected === 'session-ended' ? 'accepted' : expected, 'signonce/verify');
    });
  }

  test('a 1 MB token: the gateway refuses the header, signonce/verify refuses it at once, and both go on serving [CWE-400]', async () => {
    const huge = material.forged({}, { ...material.payload, pad: 'A'.repeat(1024 * 1024) });
    // On a connection of its own: the server closes it after refusing, and a pooled connection
    // being closed must not be handed to the next request.
    const status = await new UserAgent()
      .request(gw.url('app2.localhost', '/data'), { headers: { 'x-zumo-auth': huge, connection: 'close' } })
      .then(
        (r) => r.status,
        () => 'closed',
      );
    assert.ok(status === 431 || status === 'closed', `refused: ${status}`);
    const started = performance.now();
    const verdict = await verify(huge).catch((error: unknown) => error);
    assert.ok(verdict instanceof TokenRefused, String(verdict));
    assert.ok(performance.now() - started < 1000, 'refused quickly');
    const nested = `${b64(`{"alg":"EdDSA","typ":"${TYP}","kid":"k","x":${'['.repeat(500_000)}${']'.repeat(500_000)}}`)}.${b64(material.payload)}.AAAA`;
    assert.ok(
      (await verify(nested).catch((error: unknown) => error)) instanceof TokenRefused,
      'a header nested 500,000 deep is refused, not a crash',
    );
    assert.equal(
      (await new UserAgent().request(gw.url('app2.localhost', '/data'), { headers: { 'x-zumo-auth': material.real } }))
        .status,
      200,
      'still serving',
    );
  });

  test('a token refused while a valid cookie is present is still refused (no fallback to the cookie) [RFC 6750 3.1]', async () => {
    const ua = await devSignInAt(gw, 'app1.localhost', 'carol@example.com');
    const answer = await ua.request(gw.url('app1.localhost', '/data'), {
      headers: { 'x-zumo-auth': material.forged(), accept: 'application/json', 'sec-fetch-mode': 'cors' },
    });
    assert.equal(answer.status, 401);
  });

  test('a token expired an hour ago (within the refresh grace) is refused everywhere but /.auth/refresh: /.auth/exchange [ASVS 4.0.3 3.5.3]', async () => {
    const expired = material.signed({}, { ...material.payload, exp: material.now - 3600 });
    const exchanged = await new UserAgent().request(gw.url('app1.localhost', '/.auth/exchange'), {
      method: 'POST',
      headers: { 'x-zumo-auth': expired, 'content-type': 'application/json' },
      body: JSON.stringify({ audience: 'app2' }),
    });
    assert.equal(exchanged.status, 401);
  });
});

/** An ID token SignOnce's OpenID Provider issues to client `app2` for a browser signed in with `dev`. */
async function opIdToken(gw: SecurityGateway): Promise<string> {
  const ua = await devSignInAt(gw, 'app1.localhost', 'olga@example.com');
  const config = await client.discovery(
    new URL(gw.config.publicUrl),
    'app2',
    OIDC_CLIENT_SECRET,
    client.ClientSecretBasic(OIDC_CLIENT_SECRET),
    { execute: [client.allowInsecureRequests], [client.customFetch]: fetchLocal } as never,
  );
  const verifier = client.randomPKCECodeVerifier();
  ua.holdRedirectsTo = new RegExp(`^${RP}/`);
  const back = await ua.navigate(
    client.buildAuthorizationUrl(config, {
      redirect_uri: `${RP}/cb`,
      scope: 'openid',
      state: 's',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }),
  );
  const tokens = await client.authorizationCodeGrant(config, new URL(back.headers.get('location')!), {
    pkceCodeVerifier: verifier,
    expectedState: 's',
  });
  return tokens.id_token!;
}
