// Third-party identity tokens (externalIssuers): a local issuer serving its keys on loopback signs
// tokens; POST /.auth/external/{id} asks for credentials the first time, links with the right ones
// only, then takes the token alone; every forged or misdirected token is refused; the store holds
// no raw subject.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload } from 'jose';
import { Keyring } from '../../src/crypto/keyring.ts';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { UserAgent } from '../support/user-agent.ts';

const MAIL = 'https://mail.example.com';
const PARTNER = 'https://partner.example.com';
const AUDIENCE = 'https://app.example.com/add-in';
const PASSWORD = 'a long and unusual passphrase';
const SUBJECT = 'exchange-user-7c1f42';
type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

describe('POST /.auth/external/{id}', () => {
  let issuerServer: Server;
  let issuerUrl: string;
  let gw: TestGateway;
  let store: Store;
  let accountOfKim: string;
  const signer = generateKeyPair('ES256');
  const stranger = generateKeyPair('ES256');

  before(async () => {
    const publicJwk: JWK = { ...(await exportJWK((await signer).publicKey)), kid: 'mail-1', alg: 'ES256', use: 'sig' };
    issuerServer = createServer((request, response) => {
      response.setHeader('content-type', 'application/json');
      if (request.url === '/jwks.json') return void response.end(JSON.stringify({ keys: [publicJwk] }));
      if (request.url === '/.well-known/openid-configuration')
        return void response.end(JSON.stringify({ issuer: PARTNER, jwks_uri: `${issuerUrl}/jwks.json` }));
      response.writeHead(404).end('{}');
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => issuerServer.once('listening', resolve));
    issuerUrl = `http://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`;
    gw = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [{ id: 'local', type: 'password' }],
      externalIssuers: [
        {
          id: 'mail',
          issuer: MAIL,
          jwksUrl: `${issuerUrl}/jwks.json`,
          audience: AUDIENCE,
          subjectClaim: 'appctx_uid',
          algorithms: ['ES256'],
        },
        {
          id: 'partner',
          issuer: PARTNER,
          metadataUrl: `${issuerUrl}/.well-known/openid-configuration`,
          audience: AUDIENCE,
        },
        { id: 'down', issuer: 'https://down.example.com', jwksUrl: 'http://127.0.0.1:9/jwks.json', audience: AUDIENCE },
      ],
      apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'local' }],
    }));
    store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
    const registered = await new LocalAccounts(store).register('local', 'kim', PASSWORD, 12);
    assert.ok(registered.ok);
    accountOfKim = registered.accountId;
  });
  after(async () => {
    await store?.close();
    await gw?.close();
    await new Promise((resolve) => issuerServer?.close(resolve));
  });

  /** A token as the issuer mints it, with `change` applied (claims, header, key). */
  async function token(
    change: {
      claims?: JWTPayload;
      header?: Record<string, unknown>;
      key?: SigningKey;
      issuer?: string;
      audience?: string;
      expiresIn?: string;
    } = {},
  ): Promise<string> {
    return new SignJWT({ appctx_uid: SUBJECT, sub: SUBJECT, ...change.claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'mail-1', ...change.header })
      .setIssuer(change.issuer ?? MAIL)
      .setAudience(change.audience ?? AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(change.expiresIn ?? '5m')
      .sign(change.key ?? (await signer).privateKey);
  }
  const exchange = (issuer: string, body: unknown, headers: Record<string, string> = {}) =>
    new UserAgent().request(gw.url('app.localhost', `/.auth/external/${issuer}`), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const answer = async (issuer: string, body: unknown, headers?: Record<string, string>) => {
    const response = await exchange(issuer, body, headers);
    return {
      status: response.status,
      body: (await response.json()) as {
        error?: string;
        reason?: string;
        authenticationToken?: string;
        user?: { userId: string };
      },
    };
  };

  test('credentials_required, then linked with the right credentials only, then the token alone signs in', async () => {
    const mailToken = await token();
    assert.deepEqual(
      [(await answer('mail', { token: mailToken })).status, (await answer('mail', { token: mailToken })).body.error],
      [401, 'credentials_required'],
    );
    const wrong = await answer('mail', { token: mailToken, username: 'kim', password: 'not the passphrase' });
    assert.deepEqual([wrong.status, wrong.body.error], [401, 'invalid_credentials']);
    assert.equal(
      (await answer('mail', { token: mailToken })).body.error,
      'credentials_required',
      'wrong credentials linked nothing',
    );
    const unknownUser = await answer('mail', { token: mailToken, username: 'nobody', password: PASSWORD });
    assert.deepEqual(
      [unknownUser.status, unknownUser.body.error],
      [401, 'invalid_credentials'],
      'the same answer for an unknown user',
    );

    const linked = await answer('mail', { token: mailToken, username: 'Kim', password: PASSWORD });
    assert.equal(linked.status, 200, JSON.stringify(linked.body));
    assert.equal(linked.body.user?.userId, accountOfKim);
    const alone = await answer('mail', { token: await token() });
    assert.equal(alone.status, 200);
    assert.equal(alone.body.user?.userId, accountOfKim, 'next time the token alone is enough');
    const me = await new UserAgent().request(gw.url('app.localhost', '/.auth/me'), {
      headers: { 'x-zumo-auth': alone.body.authenticationToken! },
    });
    assert.equal(me.status, 200);
    const [entry] = (await me.json()) as Array<{ provider_name: string; user_id: string }>;
    assert.deepEqual(
      [entry?.provider_name, entry?.user_id],
      ['local', 'kim'],
      'apps see the local user the token was matched to',
    );

    const path = gw.config.store.slice('sqlite:'.length);
    const raw = (
      await Promise.all(['', '-wal'].map((suffix) => readFile(path + suffix, 'latin1').catch(() => '')))
    ).join('');
    assert.ok(raw.includes(accountOfKim), 'the raw reader sees what the store wrote');
    assert.ok(!raw.includes(SUBJECT), 'no raw subject in the store');
  });

  test('every forged, misdirected or stale token is refused, though its subject is linked', async () => {
    assert.equal(
      (await answer('mail', { token: await token(), username: 'kim', password: PASSWORD })).status,
      200,
      'linked (or already)',
    );
    const { privateKey: otherKey } = await stranger;
    const publicJwk = await exportJWK((await signer).publicKey);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'mail-1' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: MAIL, aud: AUDIENCE, appctx_uid: SUBJECT, exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url')}.`;
    const hmacWithPublicKey = await new SignJWT({ appctx_uid: SUBJECT })
      .setProtectedHeader({ alg: 'HS256', kid: 'mail-1' })
      .setIssuer(MAIL)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
    const cases: Array<[string, string | Promise<string>, RegExp]> = [
      ['another audience', token({ audience: 'https://other.example.com' }), /"aud"/],
      ['another issuer', token({ issuer: 'https://evil.example.com' }), /"iss"/],
      ['expired', token({ expiresIn: '-2m' }), /expired/],
      [
        'signed by a key the issuer does not publish',
        token({ key: otherKey, header: { kid: 'evil-1' } }),
        /does not publish/,
      ],
      ["signed by another key under the issuer's kid", token({ key: otherKey }), /signature/],
      ['alg none', unsigned, /not an accepted algorithm/],
      ['HS256 keyed with the public key', hmacWithPublicKey, /not an accepted algorithm/],
      ['a jku header', token({ header: { jku: 'http://127.0.0.1:9/evil.json' } }), /"jku" header/],
      ['an embedded jwk', token({ header: { jwk: publicJwk } }), /"jwk" header/],
      ['no subject claim', token({ claims: { appctx_uid: undefined } }), /"appctx_uid" claim/],
      ['a subject that is not a string', token({ claims: { appctx_uid: 42 as never } }), /"appctx_uid" claim/],
      ['not a JWT', 'not-a-jwt', /not a signed JWT/],
    ];
    for (const [name, forged, reason] of cases) {
      const refused = await answer('mail', { token: await forged });
      assert.deepEqual([refused.status, refused.body.error], [401, 'invalid_token'], name);
      assert.match(refused.body.reason ?? '', reason, name);
    }
  });

  test('metadataUrl issuer, linked from a signed-in session; bad requests; an issuer that cannot be reached', async () => {
    const signedIn = await answer('mail', { token: await token(), username: 'kim', password: PASSWORD });
    const partnerToken = await token({ issuer: PARTNER, claims: { sub: 'partner-user-1' } });
    assert.equal((await answer('partner', { token: partnerToken })).body.error, 'credentials_required');
    const linked = await answer(
      'partner',
      { token: partnerToken },
      { 'x-zumo-auth': signedIn.body.authenticationToken! },
    );
    assert.equal(linked.status, 200);
    assert.equal((await answer('partner', { token: partnerToken })).body.user?.userId, accountOfKim);

    assert.equal((await answer('nobody', { token: partnerToken })).status, 404);
    assert.equal((await answer('partner', { nothing: true })).status, 400);
    assert.equal((await exchange('partner', { token: partnerToken }, { 'content-type': 'text/plain' })).status, 415);
    assert.equal((await new UserAgent().request(gw.url('app.localhost', '/.auth/external/partner'))).status, 405);
    const down = await answer('down', { token: await token({ issuer: 'https://down.example.com' }) });
    assert.deepEqual([down.status, down.body.error], [502, 'issuer_unavailable']);
  });
});
