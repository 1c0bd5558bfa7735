// Request smuggling through the WebSocket path (CWE-444): an upgrade request carrying a body that
// the tunnel never sends, to an app that declines the upgrade and reads the body as HTTP/1.1 says
// (RFC 9112 section 6.3). The upstream here is a raw socket server that frames requests exactly so
// and records every request line it parses: the verdict is that it never parses one the gateway
// did not send.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { rawExchange, statusesOf } from './support.ts';

interface Parsed { readonly line: string; readonly headers: ReadonlyMap<string, string> }

/**
 * An HTTP/1.1 app on raw sockets: each request is framed by RFC 9112 section 6.3 (chunked, else
 * Content-Length, else no body); upgrades are declined at once with 426 (before the body, as many
 * servers do), other requests get 200; the connection is kept for the next request.
 */
async function startStrictUpstream(): Promise<{ url: string; parsed: Parsed[]; connections: number; server: Server }> {
  const parsed: Parsed[] = [];
  const state = { connections: 0 };
  const server = createServer((socket: Socket) => {
    state.connections++;
    let buffer = Buffer.alloc(0);
    let need: { kind: 'head' } | { kind: 'length'; n: number } | { kind: 'chunked' } = { kind: 'head' };
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (need.kind === 'head') {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          const [line, ...fields] = buffer.subarray(0, end).toString('latin1').split('\r\n');
          buffer = buffer.subarray(end + 4);
          const headers = new Map(fields.map((f) => [f.slice(0, f.indexOf(':')).trim().toLowerCase(), f.slice(f.indexOf(':') + 1).trim()]));
          parsed.push({ line: line!, headers });
          const upgrade = /upgrade/i.test(headers.get('connection') ?? '');
          socket.write(upgrade ? 'HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n' : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
          if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) need = { kind: 'chunked' };
          else if (Number(headers.get('content-length') ?? 0) > 0) need = { kind: 'length', n: Number(headers.get('content-length')) };
        } else if (need.kind === 'length') {
          if (buffer.length < need.n) return;
          buffer = buffer.subarray(need.n);
          need = { kind: 'head' };
        } else {
          const end = buffer.indexOf('\r\n');
          if (end < 0) return;
          const size = parseInt(buffer.subarray(0, end).toString('latin1'), 16);
          if (buffer.length < end + 2 + size + 2) return;
          buffer = buffer.subarray(end + 2 + size + 2);
          // The last chunk, then (no trailers) the empty line.
          if (size === 0) need = { kind: 'head' };
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, parsed, get connections() { return state.connections; }, server };
}

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const REF = 'RFC 9112 6.3; RFC 6455 4.1; CWE-444';

describe('request smuggling through WebSocket upgrades', () => {
  let gw: TestGateway;
  let upstream: Awaited<ReturnType<typeof startStrictUpstream>>;
  before(async () => {
    upstream = await startStrictUpstream();
    gw = await startTestGateway((port) => ({
      publicUrl: `http://auth.localhost:${port}`,
      apps: [{ id: 'open', hosts: [`open.localhost:${port}`], upstream: upstream.url, unauthenticatedAction: 'AllowAnonymous' }],
    }));
  });
  after(async () => {
    await gw?.close();
    upstream?.server.close();
  });
  const host = () => `open.localhost:${gw.port}`;
  /** A plain upgrade from another client, declined by the app. */
  const victim = (n: number) => rawExchange(gw.port, `GET /ws?row=${n} HTTP/1.1\r\nHost: ${host()}\r\n${UPGRADE}X-Victim: padding-${'v'.repeat(200)}\r\n\r\n`);
  /** Every request line the app parsed is one the gateway sent (an upgrade of a row, or nothing). */
  const nothingSmuggled = () => {
    for (const { line } of upstream.parsed) assert.match(line, /^GET \/ws\?row=\d+ HTTP\/1\.1$/, `the app parsed a request the gateway never sent: ${JSON.stringify(line)}`);
  };

  const rows: Array<{ attack: string; framing: string; body: string }> = [
    { attack: 'an upgrade with Content-Length and a body the tunnel never sends', framing: 'Content-Length: 64\r\n', body: 'x'.repeat(64) },
    { attack: 'an upgrade with Content-Length and no body at all', framing: 'Content-Length: 64\r\n', body: '' },
    { attack: 'an upgrade with Transfer-Encoding: chunked', framing: 'Transfer-Encoding: chunked\r\n', body: '5\r\nhello\r\n0\r\n\r\n' },
    { attack: 'an upgrade with Transfer-Encoding in mixed case', framing: 'transfer-ENCODING: Chunked\r\n', body: '0\r\n\r\n' },
  ];
  let n = 0;
  for (const row of rows) {
    test(`${row.attack}: refused (400), nothing reaches the app, the next upgrade is framed as sent [${REF}]`, async () => {
      const mine = ++n;
      const before = upstream.parsed.length;
      const answer = await rawExchange(gw.port, `GET /ws?row=${mine} HTTP/1.1\r\nHost: ${host()}\r\n${UPGRADE}${row.framing}\r\n${row.body}`);
      assert.deepEqual(statusesOf(answer), [400], answer);
      assert.equal(upstream.parsed.length, before, 'nothing went upstream');
      const next = ++n;
      assert.deepEqual(statusesOf(await victim(next)), [426], 'the next upgrade is answered by the app as sent');
      nothingSmuggled();
      assert.equal(upstream.parsed.at(-1)?.line, `GET /ws?row=${next} HTTP/1.1`);
    });
  }

  test(`control: an upgrade with Content-Length: 0 goes through [${REF}]`, async () => {
    const mine = ++n;
    const answer = await rawExchange(gw.port, `GET /ws?row=${mine} HTTP/1.1\r\nHost: ${host()}\r\n${UPGRADE}Content-Length: 0\r\n\r\n`);
    assert.deepEqual(statusesOf(answer), [426]);
    assert.equal(upstream.parsed.at(-1)?.line, `GET /ws?row=${mine} HTTP/1.1`);
  });

  test(`each tunnel has its own upstream connection, never a pooled one [${REF}]`, async () => {
    const opened = upstream.connections;
    await victim(++n);
    await victim(++n);
    assert.equal(upstream.connections - opened, 2, 'a connection per upgrade');
    nothingSmuggled();
  });
});
