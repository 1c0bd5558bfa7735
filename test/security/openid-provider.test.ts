// Attacks on SignOnce's OpenID Provider as a resource server and an issuer: a stolen DPoP-bound
// access token presented without (or with a wrong) proof of its key at GET /.auth/token, a
// single sign-on session answering a request that asked for a fresh authentication, and
// forwarding headers naming another host in discovery. Client app2, browser signed in as alice.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKeyPair } from 'jose';
import { dpopProof } from '../support/dpop.ts';
import { UserAgent, type Response } from '../support/user-agent.ts';
import {
  OIDC_CLIENT_SECRET,
  RP,
  authorizationUrl,
  devSignInAt,
  named,
  startSecurityGateway,
  type Row,
  type SecurityGateway,
} from './support.ts';

type Keys = Awaited<ReturnType<typeof generateKeyPair>>;
/** A DPoP-bound access token of client app2 for alice, and the key it is bound to. */
interface Bound {
  readonly token: string;
  readonly keys: Keys;
}

interface OpRow extends Row {
  readonly play: (gw: SecurityGateway, bound: Bound) => Promise<Response>;
  /** The answer: 401 refused; 403 at /.auth/token means the token was accepted (app2 lacks `provider_tokens`); 303 a code for the client; 200 a sign-in page. */
  readonly status: number;
  readonly check?: (answer: Response, gw: SecurityGateway) => Promise<void>;
}

const DPOP = 'RFC 9449 7.1, 7.2 and 4.3; RFC 9700 4.10.1; CWE-294';
const MAX_AGE = 'OpenID Connect Core 1.0 3.1.2.1 (max_age, prompt=login); ASVS 4.0.3 3.6.1';
const tokenUrl = (gw: SecurityGateway) => gw.url('auth.localhost', '/.auth/token');
const atToken = (gw: SecurityGateway, authorization: string, proof?: string) =>
  new UserAgent().request(tokenUrl(gw), { headers: { authorization, ...(proof ? { dpop: proof } : {}) } });
/**
 * An authorization request of app2 in a browser signed in (single sign-on), `waitMs` after the
 * sign-in, with `extra` parameters: a code for app2 (303), or a sign-in page (200).
 */
async function authorizeSignedIn(gw: SecurityGateway, extra: Record<string, string>, waitMs = 0): Promise<Response> {
  const ua = await devSignInAt(gw, 'app1.localhost', 'alice@example.com');
  await sleep(waitMs);
  const url = new URL(authorizationUrl(gw, 'app2', `${RP}/cb`));
  for (const [name, value] of Object.entries(extra)) url.searchParams.set(name, value);
  ua.holdRedirectsTo = new RegExp(`^${RP}/`);
  return ua.navigate(url);
}

const rows: OpRow[] = [
  // --- DPoP-bound access tokens at GET /.auth/token ----------------------------------------------
  {
    attack: 'control: the DPoP-bound token with a proof of its key',
    reference: DPOP,
    status: 403,
    play: async (gw, { token, keys }) =>
      atToken(gw, `DPoP ${token}`, await dpopProof(keys, token, { htu: tokenUrl(gw) })),
  },
  {
    attack: 'a stolen DPoP-bound token presented as Bearer',
    reference: DPOP,
    status: 401,
    play: (gw, { token }) => atToken(gw, `Bearer ${token}`),
    check: async (answer) =>
      assert.match(answer.headers.get('www-authenticate') ?? '', /DPoP realm=.*error="invalid_token"/),
  },
  {
    attack: 'a stolen DPoP-bound token as DPoP without a proof',
    reference: DPOP,
    status: 401,
    play: (gw, { token }) => atToken(gw, `DPoP ${token}`),
  },
  {
    attack: "a stolen DPoP-bound token with a proof of the thief's own key",
    reference: DPOP,
    status: 401,
    play: async (gw, { token }) =>
      atToken(
        gw,
        `DPoP ${token}`,
        await dpopProof(await generateKeyPair('ES256', { extractable: true }), token, { htu: tokenUrl(gw) }),
      ),
  },
  {
    attack: 'a proof made for another endpoint (userinfo) replayed at /.auth/token',
    reference: DPOP,
    status: 401,
    play: async (gw, { token, keys }) =>
      atToken(gw, `DPoP ${token}`, await dpopProof(keys, token, { htu: gw.url('auth.localhost', '/.auth/oidc/me') })),
  },
  {
    attack: 'a proof made for another method (POST)',
    reference: DPOP,
    status: 401,
    play: async (gw, { token, keys }) =>
      atToken(gw, `DPoP ${token}`, await dpopProof(keys, token, { htu: tokenUrl(gw), htm: 'POST' })),
  },
  {
    attack: 'an observed proof replayed (same jti)',
    reference: `${DPOP}; RFC 9449 11.1`,
    status: 401,
    play: async (gw, { token, keys }) => {
      const proof = await dpopProof(keys, token, { htu: tokenUrl(gw) });
      assert.equal((await atToken(gw, `DPoP ${token}`, proof)).status, 403, 'its first use');
      return atToken(gw, `DPoP ${token}`, proof);
    },
  },
  {
    attack: 'one proof sent twice at the same moment (a race for its jti)',
    reference: `${DPOP}; RFC 9449 11.1`,
    status: 401,
    play: async (gw, { token, keys }) => {
      const proof = await dpopProof(keys, token, { htu: tokenUrl(gw) });
      const answers = await Promise.all([atToken(gw, `DPoP ${token}`, proof), atToken(gw, `DPoP ${token}`, proof)]);
      assert.deepEqual(answers.map((a) => a.status).sort(), [401, 403], 'one use accepted, one refused');
      await Promise.all(answers.map((a) => a.cancel()));
      return answers.find((a) => a.status === 401)!;
    },
  },
  {
    attack: "a stolen DPoP-bound token as Bearer at userinfo (oidc-provider's own check)",
    reference: DPOP,
    status: 401,
    play: (gw, { token }) =>
      new UserAgent().request(gw.url('auth.localhost', '/.auth/oidc/me'), {
        headers: { authorization: `Bearer ${token}` },
      }),
  },

  // --- a fresh authentication asked for ---------------------------------------------------------
  {
    attack: 'control: max_age=3600 just after signing in is answered by single sign-on',
    reference: MAX_AGE,
    status: 303,
    play: (gw) => authorizeSignedIn(gw, { max_age: '3600' }),
  },
  {
    attack: 'max_age=1 two seconds after signing in, answered by the single sign-on session (no new authentication)',
    reference: MAX_AGE,
    status: 200,
    play: (gw) => authorizeSignedIn(gw, { max_age: '1' }, 2100),
  },
  {
    attack: 'max_age=0 (as prompt=login) answered by the single sign-on session',
    reference: MAX_AGE,
    status: 200,
    play: (gw) => authorizeSignedIn(gw, { max_age: '0' }),
  },
  {
    attack: 'prompt=login answered by the single sign-on session',
    reference: MAX_AGE,
    status: 200,
    play: (gw) => authorizeSignedIn(gw, { prompt: 'login' }),
  },

  // --- forwarding headers and the issuer's URLs ------------------------------------------------
  {
    attack:
      'X-Forwarded-Host/-Proto and Forwarded from a sender not in trustedProxies naming another host in discovery',
    reference: 'OpenID Connect Discovery 1.0 3; RFC 8414 3.3; RFC 7239 8; CWE-348',
    status: 200,
    play: (gw) =>
      new UserAgent().request(gw.url('auth.localhost', '/.well-known/openid-configuration'), {
        headers: {
          accept: 'application/json',
          'x-forwarded-host': 'evil.example',
          'x-forwarded-proto': 'https',
          forwarded: 'host=evil.example;proto=https',
        },
      }),
    check: async (answer, gw) => {
      const origin = new URL(gw.url('auth.localhost')).origin;
      const urls = Object.values((await answer.json()) as Record<string, unknown>).filter(
        (value): value is string => typeof value === 'string' && /^[a-z]+:\/\//i.test(value),
      );
      assert.deepEqual(
        urls.filter((url) => new URL(url).origin !== origin),
        [],
        'every URL on publicUrl',
      );
    },
  },
];

describe('the OpenID Provider as resource server and issuer', () => {
  let gw: SecurityGateway;
  let bound: Bound;
  before(async () => {
    gw = await startSecurityGateway();
    // app2's code for alice, exchanged with a DPoP proof: the access token is bound to `keys`.
    const keys = await generateKeyPair('ES256', { extractable: true });
    const code = new URL((await authorizeSignedIn(gw, {})).headers.get('location')!).searchParams.get('code')!;
    const answer = await new UserAgent().request(gw.url('auth.localhost', '/.auth/oidc/token'), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`app2:${OIDC_CLIENT_SECRET}`).toString('base64')}`,
        dpop: await dpopProof(keys, '', {
          htm: 'POST',
          htu: gw.url('auth.localhost', '/.auth/oidc/token'),
          ath: undefined,
        }),
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: `${RP}/cb`,
        code_verifier: 'a-verifier-of-at-least-43-characters-0123456789',
      }).toString(),
    });
    const tokens = (await answer.json()) as { access_token: string; token_type: string };
    assert.equal(tokens.token_type, 'DPoP', JSON.stringify(tokens));
    bound = { token: tokens.access_token, keys };
  });
  after(() => gw?.close());

  for (const row of rows) {
    test(named(row), row.todo ? { todo: row.todo } : {}, async () => {
      const answer = await row.play(gw, bound);
      if (answer.status !== row.status)
        assert.fail(`answered ${answer.status}, not ${row.status}: ${await answer.text()}`);
      await (row.check ? row.check(answer, gw) : answer.cancel());
    });
  }
});
