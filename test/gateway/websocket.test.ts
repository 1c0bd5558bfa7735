// WebSockets through the gateway: only for signed-in users (or anonymous-allowed paths), never
// from another origin with the user's cookie (cross-site WebSocket hijacking), identity included.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';

/** Opens a socket through the gateway; resolves with the first message, or the refusal's status. */
function connect(
  gw: TestGateway,
  headers: Record<string, string>,
): Promise<{ first?: string; status?: number; socket?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${gw.port}/live`, {
      headers: { host: `app.localhost:${gw.port}`, ...headers },
    });
    socket.once('message', (data) => resolve({ first: String(data), socket }));
    socket.once('unexpected-response', (_request, response) => {
      resolve({ status: response.statusCode! });
      socket.terminate();
    });
    socket.once('error', reject);
  });
}

describe('WebSockets', () => {
  let upstream: Server;
  let gw: TestGateway;
  let cookie: string;

  before(async () => {
    // The app: greets with who the gateway says the user is, then echoes.
    upstream = createServer((_request, response) => response.end('a page'));
    const wss = new WebSocketServer({ server: upstream });
    wss.on('connection', (socket, request) => {
      socket.send(
        `hello ${request.headers['x-ms-client-principal-name'] ?? 'anonymous'} cookie=${request.headers.cookie ?? ''}`,
      );
      socket.on('message', (data) => socket.send(`echo ${String(data)}`));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    gw = await startTestGateway((port) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      providers: [{ id: 'dev', type: 'dev' }],
      apps: [
        {
          id: 'app',
          hosts: [`app.localhost:${port}`],
          upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
          defaultProvider: 'dev',
        },
      ],
    }));
    const ua = new UserAgent();
    const form = await ua.navigate(gw.url('app.localhost', '/.auth/login/dev'));
    await ua.submitForm(finalUrl(form), await form.text(), { user_id: 'frank@example.com' });
    cookie = ua.cookieHeader(new URL(gw.url('app.localhost')))!;
    assert.match(cookie, /AppServiceAuthSession=/);
  });
  after(async () => {
    await gw?.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  test("a signed-in user's socket reaches the app with the identity headers, and carries messages both ways", async () => {
    const { first, socket } = await connect(gw, { cookie, origin: `http://app.localhost:${gw.port}` });
    assert.equal(first, 'hello frank@example.com cookie=', "identity added, SignOnce's cookie removed");
    const echoed = new Promise((resolve) => socket!.once('message', (data) => resolve(String(data))));
    socket!.send('ping');
    assert.equal(await echoed, 'echo ping');
    socket!.close();
  });

  test("no session: 401; the user's cookie from another origin: 403; a forged cookie: 401", async () => {
    assert.deepEqual(await connect(gw, {}), { status: 401 });
    assert.deepEqual(await connect(gw, { cookie, origin: 'https://evil.example' }), { status: 403 });
    assert.deepEqual(
      await connect(gw, { cookie: 'AppServiceAuthSession=forged', 'x-ms-client-principal-name': 'mallory' }),
      { status: 401 },
    );
  });
});
