import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  forwardableHeaders,
  isCredentialHeader,
  isIdentityHeader,
  withoutCookies,
} from '../../src/gateway/rules/identity-headers.ts';
import { startTestGateway, type Echo } from '../support/gateway.ts';
import { devSignIn } from '../support/sign-in.ts';

const own = new Set(['AppServiceAuthSession']);

test('identity header names: every spelling an app might read is recognised', () => {
  for (const name of [
    'X-MS-CLIENT-PRINCIPAL',
    'x-ms-client-principal',
    'X-Ms-Client-Principal-Name',
    'X-MS-CLIENT-PRINCIPAL-ID',
    'X-MS-CLIENT-PRINCIPAL-IDP',
    'X_MS_CLIENT_PRINCIPAL',
    'x_ms_client_principal_name',
    'X-MS_CLIENT-PRINCIPAL',
    'X-MS-TOKEN-AAD-ACCESS-TOKEN',
    'x-ms-token-google-id-token',
    'X_MS_TOKEN_GOOGLE_REFRESH_TOKEN',
    'X-SIGNONCE-TOKEN-GRAPH',
    'x_signonce_token_graph_expires_on',
    'X-SignOnce-Anything',
  ])
    assert.equal(isIdentityHeader(name), true, name);
  for (const name of [
    'X-MS-REQUEST-ID',
    'X-Client-Principal',
    'Authorization',
    'X-ZUMO-AUTH',
    'x-ms-tokens',
    'principal',
    'X-SIGNONCETOKEN',
  ]) {
    assert.equal(isIdentityHeader(name), false, name);
  }
});

test("credential headers: X-ZUMO-AUTH in any spelling always; Authorization only when it carried SignOnce's token", () => {
  const cases: Array<[string, boolean, boolean]> = [
    ['X-ZUMO-AUTH', false, true],
    ['x-zumo-auth', false, true],
    ['X_ZUMO_AUTH', false, true],
    ['X-Zumo-Auth', true, true],
    ['Authorization', false, false],
    ['authorization', true, true],
    ['AUTHORIZATION', true, true],
    ['Proxy-Authorization', true, false],
    ['X-ZUMO-AUTHX', true, false],
    ['zumo-auth', true, false],
  ];
  for (const [name, ours, expected] of cases) assert.equal(isCredentialHeader(name, ours), expected, `${name} ${ours}`);
});

test("cookies: only SignOnce's are removed, the rest kept in order", () => {
  const cases: Array<[string, string | undefined]> = [
    ['AppServiceAuthSession=abc', undefined],
    ['a=1; AppServiceAuthSession=abc; b=2', 'a=1; b=2'],
    ['AppServiceAuthSession=abc;AppServiceAuthSession=def', undefined],
    [' AppServiceAuthSession = abc ; theme=dark', 'theme=dark'],
    ['appserviceauthsession=abc', 'appserviceauthsession=abc'],
    ['AppServiceAuthSessionX=1', 'AppServiceAuthSessionX=1'],
    ['a=AppServiceAuthSession=x', 'a=AppServiceAuthSession=x'],
    [';;', undefined],
  ];
  for (const [header, expected] of cases) assert.equal(withoutCookies(header, own), expected, header);
});

test('forwardableHeaders drops spoofed identity headers, however sent, from a real request', async () => {
  // The raw header list as Node's parser gives it, from a request sent over a real socket.
  const received = new Promise<string[]>((resolve) => {
    const server = createServer((req, res) => {
      resolve(req.rawHeaders);
      res.end();
      server.close();
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      request({
        port,
        host: '127.0.0.1',
        path: '/',
        headers: [
          'Host',
          'app1.localhost',
          'X-MS-CLIENT-PRINCIPAL-NAME',
          'admin@evil',
          'x-ms-client-principal-name',
          'admin2@evil',
          'X_MS_CLIENT_PRINCIPAL_ID',
          'spoofed-id',
          'X-Ms-Token-Aad-Access-Token',
          'forged',
          'Cookie',
          'AppServiceAuthSession=stolen; theme=dark',
          'Cookie',
          'other=1',
          'Accept',
          'text/html',
        ] as unknown as Record<string, string>,
      }).end();
    });
  });
  const forwarded = forwardableHeaders(await received, own);
  assert.deepEqual(
    forwarded.filter(([name]) => !/^(connection)$/i.test(name)),
    [
      ['Host', 'app1.localhost'],
      ['Cookie', 'theme=dark'],
      ['Cookie', 'other=1'],
      ['Accept', 'text/html'],
    ],
  );
});

test('a user named outside Latin-1 reaches the app, the name and id as UTF-8 bytes', async (t) => {
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'dev' }],
  }));
  t.after(() => gw.close());
  const { landed } = await devSignIn(gw.url('app.localhost', '/'), { user_id: 'Łukasz Żółć', name: 'Łukasz Żółć' });
  assert.equal(landed.status, 200, 'served, not 502');
  const headers = ((await landed.json()) as Echo).headers;
  // Node hands header bytes over as Latin-1 characters: as UTF-8 they are the name.
  assert.equal(Buffer.from(String(headers['x-ms-client-principal-name']), 'latin1').toString('utf8'), 'Łukasz Żółć');
  assert.equal(Buffer.from(String(headers['x-ms-client-principal-id']), 'latin1').toString('utf8'), 'Łukasz Żółć');
});
