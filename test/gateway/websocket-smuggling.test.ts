// Request smuggling through the WebSocket path (RFC 9112 section 6.3; CWE-444): an upgrade the app
// declines must leave nothing on an upstream connection for the next request to be read against.
// The app here frames requests exactly as HTTP/1.1 says, as a Java server does: it answers once
// it has the headers, then reads the body the headers announced before the next request.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { announcesBody } from '../../src/gateway/websocket.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { rawExchange, statusesOf } from '../security/support.ts';

/** One request the app's parser made out, and the connection (numbered from 1) it came on. */
interface Parsed {
  readonly connection: number;
  readonly line: string;
}
/** A request the app has not answered yet. */
interface Held {
  readonly connection: number;
  answer(): void;
}

/**
 * An HTTP/1.1 app server on a raw socket: request line and header fields (RFC 9112 sections 3
 * and 5), then the body exactly as section 6.3 frames it (chunked when Transfer-Encoding ends in
 * chunked, else Content-Length bytes, else none), then the next request on the same connection.
 * Every request is answered 200 with its request line, keep-alive; upgrades are declined.
 */
async function startHttp1App(): Promise<{
  url: string;
  parsed: Parsed[];
  held(): Promise<Held>;
  connectionClosed(n: number): Promise<void>;
  close(): Promise<void>;
}> {
  const parsed: Parsed[] = [];
  // Requests whose target has "hold" wait to be answered until the test says so.
  const held: Held[] = [];
  let onHeld: (() => void) | undefined;
  const closed = new Set<number>();
  const waiting = new Map<number, () => void>();
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    const connection = ++connections;
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      closed.add(connection);
      waiting.get(connection)?.();
    });
    socket.on('error', () => socket.destroy());
    let buffer = Buffer.alloc(0);
    let state:
      | { kind: 'head' }
      | { kind: 'length'; left: number }
      | { kind: 'chunk-size' }
      | { kind: 'chunk-data'; left: number }
      | { kind: 'trailers' } = { kind: 'head' };
    /** A CRLF-terminated line from the buffer, or undefined until one has arrived. */
    const line = () => {
      const end = buffer.indexOf('\r\n');
      if (end < 0) return undefined;
      const text = buffer.subarray(0, end).toString('latin1');
      buffer = buffer.subarray(end + 2);
      return text;
    };
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (state.kind === 'head') {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          const [requestLine, ...fields] = buffer.subarray(0, end).toString('latin1').split('\r\n');
          buffer = buffer.subarray(end + 4);
          const headers = fields.map((field): [string, string] => [
            field.slice(0, field.indexOf(':')),
            field.slice(field.indexOf(':') + 1).trim(),
          ]);
          parsed.push({ connection, line: requestLine! });
          const body = `you asked for ${requestLine}`;
          const answer = () =>
            socket.write(
              `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
            );
          if (!/hold/.test(requestLine!)) answer();
          else {
            held.push({ connection, answer });
            onHeld?.();
          }
          const value = (name: string) =>
            headers
              .filter(([n]) => n.toLowerCase() === name)
              .map(([, v]) => v)
              .join(', ');
          const length = value('content-length');
          state = /(^|,)\s*chunked\s*$/i.test(value('transfer-encoding'))
            ? { kind: 'chunk-size' }
            : { kind: 'length', left: length ? Number(length) : 0 };
        } else if (state.kind === 'length') {
          const taken = Math.min(state.left, buffer.length);
          buffer = buffer.subarray(taken);
          state = state.left === taken ? { kind: 'head' } : { kind: 'length', left: state.left - taken };
          if (state.kind !== 'head') return;
        } else if (state.kind === 'chunk-size') {
          const size = line();
          if (size === undefined) return;
          const left = parseInt(size, 16);
          state = left === 0 ? { kind: 'trailers' } : { kind: 'chunk-data', left: left + 2 };
        } else if (state.kind === 'chunk-data') {
          const taken = Math.min(state.left, buffer.length);
          buffer = buffer.subarray(taken);
          state = state.left === taken ? { kind: 'chunk-size' } : { kind: 'chunk-data', left: state.left - taken };
          if (state.kind !== 'chunk-size') return;
        } else {
          const trailer = line();
          if (trailer === undefined) return;
          if (trailer === '') state = { kind: 'head' };
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    parsed,
    held: () =>
      held.length
        ? Promise.resolve(held.shift()!)
        : new Promise((resolve) => {
            onHeld = () => {
              onHeld = undefined;
              resolve(held.shift()!);
            };
          }),
    connectionClosed: (n) => (closed.has(n) ? Promise.resolve() : new Promise((resolve) => waiting.set(n, resolve))),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

test('announcesBody: an upgrade request with any Transfer-Encoding or a Content-Length other than one "0" carries a body', () => {
  const cases: Array<[string, string[], boolean]> = [
    ['no framing header (what WebSocket clients send)', ['Host', 'app', 'Upgrade', 'websocket'], false],
    ['Content-Length: 0', ['Content-Length', '0'], false],
    ['content-length: 0 in lower case', ['content-length', '0'], false],
    ['Content-Length: 5', ['Content-Length', '5'], true],
    ['Content-Length: 00 (zero, spelt as no client does)', ['Content-Length', '00'], true],
    ['Content-Length with leading whitespace', ['Content-Length', ' 5'], true],
    ['Content-Length: 0 beside Content-Length: 5', ['Content-Length', '0', 'Content-Length', '5'], true],
    ['Content-Length: 0 twice', ['Content-Length', '0', 'Content-Length', '0'], true],
    ['a Content-Length list', ['Content-Length', '0, 5'], true],
    ['an empty Content-Length', ['Content-Length', ''], true],
    ['Content-Length: -1', ['Content-Length', '-1'], true],
    ['Content-Length: +0', ['Content-Length', '+0'], true],
    ['Transfer-Encoding: chunked', ['Transfer-Encoding', 'chunked'], true],
    ['Transfer-Encoding: identity', ['Transfer-Encoding', 'identity'], true],
    ['an empty Transfer-Encoding', ['Transfer-Encoding', ''], true],
    ['tRANSFER-eNCODING in mixed case', ['tRANSFER-eNCODING', 'chunked'], true],
    ['CONTENT-LENGTH in upper case', ['CONTENT-LENGTH', '7'], true],
    ['Transfer-Encoding beside Content-Length: 0', ['Content-Length', '0', 'Transfer-Encoding', 'chunked'], true],
    ['Transfer_Encoding with an underscore', ['Transfer_Encoding', 'chunked'], true],
    ['Content_Length with an underscore', ['Content_Length', '5'], true],
    ['a header merely named like one', ['X-Content-Length', '5', 'Content-Lengths', '5'], false],
  ];
  for (const [what, rawHeaders, expected] of cases) assert.equal(announcesBody(rawHeaders), expected, what);
});

const upgrade =
  'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

describe('WebSocket upgrades and the upstream connection', () => {
  let app: Awaited<ReturnType<typeof startHttp1App>>;
  let gw: TestGateway;
  const host = () => `app.localhost:${gw.port}`;
  /** The requests the app parsed from `from` on, by request line. */
  const linesFrom = (from: number) => app.parsed.slice(from).map((request) => request.line);

  before(async () => {
    app = await startHttp1App();
    // /admin is protected; WebSockets under /public/ are open to anyone.
    gw = await startTestGateway((port) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      providers: [{ id: 'dev', type: 'dev' }],
      apps: [
        {
          id: 'app',
          hosts: [`app.localhost:${port}`],
          upstream: app.url,
          unauthenticatedAction: 'Return401',
          excludedPaths: ['/public/*'],
        },
      ],
    }));
  });
  after(async () => {
    await gw?.close();
    await app?.close();
  });

  // The next upgrade hides a request line in its first header: if the app still waits for the
  // previous upgrade's body, that body ends right before it (the request line and "X-Pad: ").
  const next = (tag: string) =>
    `GET /public/ws?${tag} HTTP/1.1\r\nX-Pad: GET /admin?${tag} HTTP/1.1\r\nHost: ${host()}\r\n${upgrade}\r\n`;
  const padding = (tag: string) => `GET /public/ws?${tag} HTTP/1.1\r\nX-Pad: `.length;

  for (const [framing, body] of [
    ['Content-Length', (n: number) => `Content-Length: ${n}\r\n\r\n${'x'.repeat(n)}`],
    [
      'Transfer-Encoding: chunked',
      (n: number) => `Transfer-Encoding: chunked\r\n\r\n${n.toString(16)}\r\n${'x'.repeat(n)}\r\n0\r\n\r\n`,
    ],
  ] as const) {
    test(`an upgrade with a body (${framing}) is refused with 400 before it reaches the app, and the next upgrade is not read as a smuggled request`, async () => {
      const from = app.parsed.length;
      const tag = framing === 'Content-Length' ? 'cl' : 'te';
      const carrier = await rawExchange(
        gw.port,
        `GET /public/ws?carrier-${tag} HTTP/1.1\r\nHost: ${host()}\r\n${upgrade}${body(padding(tag))}`,
      );
      const answer = await rawExchange(gw.port, next(tag));
      assert.ok(
        !linesFrom(from).some((line) => line.startsWith('GET /admin')),
        `the app parsed a request nobody sent through the gateway's checks: ${linesFrom(from).join(' | ')}`,
      );
      assert.deepEqual(statusesOf(carrier), [400], `the upgrade with a body: ${carrier}`);
      assert.deepEqual(
        linesFrom(from),
        [`GET /public/ws?${tag} HTTP/1.1`],
        'only the upgrade without a body reaches the app',
      );
      assert.match(answer, /you asked for GET \/public\/ws\?/);
    });
  }

  test("each upgrade has an upstream connection of its own, closed once a declined upgrade's answer is relayed", async () => {
    const from = app.parsed.length;
    const answers = [];
    for (const tag of ['one', 'two'])
      answers.push(await rawExchange(gw.port, `GET /public/ws?${tag} HTTP/1.1\r\nHost: ${host()}\r\n${upgrade}\r\n`));
    assert.deepEqual(answers.map(statusesOf), [[200], [200]], "the app's answer is relayed");
    const [one, two] = app.parsed.slice(from);
    assert.notEqual(one!.connection, two!.connection, "a declined upgrade's connection is not reused");
    await app.connectionClosed(one!.connection);
    await app.connectionClosed(two!.connection);
  });

  test('a declined upgrade closes the client connection even when the client keeps its side open', {
    timeout: 10_000,
  }, async () => {
    const socket = connect({ port: gw.port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => socket.destroy());
    socket.write(`GET /public/ws?half-open HTTP/1.1\r\nHost: ${host()}\r\n${upgrade}\r\n`);
    let answer = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      answer += chunk;
    });
    await new Promise((resolve) => socket.once('end', resolve));
    assert.deepEqual(statusesOf(answer), [200]);
    // Still writable here: bytes to a connection the gateway has closed are answered with a reset,
    // which the next write meets; a half-open one takes them (until its buffers fill).
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const poke = () =>
      void socket.write('x', (error) => {
        if (!error) setImmediate(poke);
      });
    poke();
    await closed;
  });

  test("a client that resets while the app answers is let go: nothing is thrown (the process would exit), the app's connection is closed", async () => {
    const thrown: Error[] = [];
    const monitor = (error: Error) => thrown.push(error);
    process.on('uncaughtExceptionMonitor', monitor);
    const socket = connect(gw.port, '127.0.0.1');
    socket.on('error', () => socket.destroy());
    socket.write(`GET /public/ws?hold HTTP/1.1\r\nHost: ${host()}\r\n${upgrade}\r\n`);
    const held = await app.held();
    socket.resetAndDestroy();
    held.answer();
    await app.connectionClosed(held.connection);
    process.off('uncaughtExceptionMonitor', monitor);
    assert.deepEqual(thrown.map(String), []);
    const after = await rawExchange(
      gw.port,
      `GET /public/ws?after-reset HTTP/1.1\r\nHost: ${host()}\r\n${upgrade}\r\n`,
    );
    assert.deepEqual(statusesOf(after), [200], 'the gateway keeps serving');
  });
});
