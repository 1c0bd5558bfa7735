// The proxy toward the apps: forwarding headers, an upstream that is down or too slow, unknown hosts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, get, type Server } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { AddressInfo } from 'node:net';
import { startTestGateway, type Echo, type TestGateway } from '../support/gateway.ts';
import { freePort } from '../support/ports.ts';
import { UserAgent } from '../support/user-agent.ts';

async function waitFor(condition: () => boolean, ms = 2000): Promise<void> {
  for (const deadline = Date.now() + ms; !condition(); await sleep(10))
    if (Date.now() > deadline) assert.fail('condition not met in time');
}

const spoofed = {
  'x-forwarded-for': '1.2.3.4',
  'x-forwarded-host': 'admin.internal',
  'x-real-ip': '1.2.3.4',
  forwarded: 'for=1.2.3.4',
};

describe('proxy', () => {
  let untrusted: TestGateway;
  let trusted: TestGateway;
  let slow: Server;
  let sink: Server;
  let broken: Server;

  before(async () => {
    // Counts what it receives, keeps nothing.
    sink = createServer((request, response) => {
      let bytes = 0;
      request
        .on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        })
        .on('end', () => response.end(String(bytes)));
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    slow = createServer((_request, response) => {
      setTimeout(() => response.end('late'), 2000).unref();
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    // Promises 1000 bytes, sends 10, and hangs up.
    broken = createServer((_request, response) => {
      response.writeHead(200, { 'content-length': '1000', 'keep-alive': 'timeout=5', 'x-app': 'broken' });
      response.write('0123456789', () => setTimeout(() => response.socket?.destroy(), 20));
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    const dead = await freePort();
    const apps = (port: number, upstream: string) => [
      { id: 'echo', hosts: [`echo.localhost:${port}`], upstream, unauthenticatedAction: 'AllowAnonymous' },
      {
        id: 'down',
        hosts: [`down.localhost:${port}`],
        upstream: `http://127.0.0.1:${dead}`,
        unauthenticatedAction: 'AllowAnonymous',
      },
      {
        id: 'sink',
        hosts: [`sink.localhost:${port}`],
        upstream: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`,
        unauthenticatedAction: 'AllowAnonymous',
      },
      {
        id: 'slow',
        hosts: [`slow.localhost:${port}`],
        upstream: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`,
        unauthenticatedAction: 'AllowAnonymous',
        upstreamTimeout: 1,
      },
      {
        id: 'broken',
        hosts: [`broken.localhost:${port}`],
        upstream: `http://127.0.0.1:${(broken.address() as AddressInfo).port}`,
        unauthenticatedAction: 'AllowAnonymous',
      },
    ];
    untrusted = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      apps: apps(port, upstream),
    }));
    trusted = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      apps: apps(port, upstream),
      trustedProxies: ['127.0.0.0/8', '::1'],
    }));
  });
  after(async () => {
    await untrusted?.close();
    await trusted?.close();
    slow?.closeAllConnections();
    await new Promise((resolve) => slow?.close(resolve));
    await new Promise((resolve) => sink?.close(resolve));
    await new Promise((resolve) => broken?.close(resolve));
  });

  test('a 1 GiB upload streams through in constant memory', async () => {
    const size = 1024 ** 3;
    const chunk = Buffer.alloc(1 << 20, 7);
    const body = Readable.from(
      (function* () {
        for (let sent = 0; sent < size; sent += chunk.length) yield chunk;
      })(),
    );
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 50);
    try {
      const response = await request(`http://127.0.0.1:${untrusted.port}/upload`, {
        method: 'POST',
        headers: { host: `sink.localhost:${untrusted.port}`, 'content-length': String(size) },
        body,
      });
      assert.equal(response.statusCode, 200);
      assert.equal(await response.body.text(), String(size));
    } finally {
      clearInterval(sampler);
    }
    // Client, gateway and upstream share this process, and RSS includes buffers not yet collected
    // (it varies with GC timing): a quarter of the upload tells streaming from buffering.
    assert.ok(
      peak - before < 256 * 1024 ** 2,
      `memory grew by ${Math.round((peak - before) / 1024 ** 2)} MiB while 1024 MiB passed`,
    );
  });

  test("a client's forwarding headers are replaced; a trusted proxy's are kept and extended", async () => {
    const fromClient = (await (
      await new UserAgent().request(untrusted.url('echo.localhost', '/'), { headers: spoofed })
    ).json()) as Echo;
    assert.equal(fromClient.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(fromClient.headers['x-forwarded-host'], `echo.localhost:${untrusted.port}`);
    assert.equal(fromClient.headers['x-real-ip'], undefined);
    assert.equal(fromClient.headers.forwarded, undefined);
    const viaProxy = (await (
      await new UserAgent().request(trusted.url('echo.localhost', '/'), { headers: spoofed })
    ).json()) as Echo;
    assert.equal(viaProxy.headers['x-forwarded-for'], '1.2.3.4, 127.0.0.1');
    assert.equal(viaProxy.headers['x-forwarded-host'], 'admin.internal');
    assert.equal(viaProxy.headers['x-real-ip'], '1.2.3.4');
  });

  test('a client cannot make SignOnce drop its own headers by naming them in Connection', async () => {
    // undici refuses such a Connection header, so node:http sends it.
    const echo = await new Promise<Echo>((resolve, reject) => {
      get(
        `http://127.0.0.1:${untrusted.port}/`,
        {
          headers: {
            host: `echo.localhost:${untrusted.port}`,
            connection: 'keep-alive, X-Forwarded-For, x-forwarded-host, X-Forwarded-Proto',
          },
          agent: false,
        },
        (response) => {
          let body = '';
          response
            .setEncoding('utf8')
            .on('data', (chunk: string) => {
              body += chunk;
            })
            .on('end', () => resolve(JSON.parse(body) as Echo));
        },
      ).on('error', reject);
    });
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(echo.headers['x-forwarded-host'], `echo.localhost:${untrusted.port}`);
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
  });

  test("the app's answer comes back as sent: status, every Set-Cookie, no hop-by-hop headers", async () => {
    const response = await request(`http://127.0.0.1:${untrusted.port}/`, {
      headers: { host: `broken.localhost:${untrusted.port}` },
    }).catch((error: unknown) => error);
    assert.ok(!(response instanceof Error), 'headers arrive before the break');
    const answer = response as Awaited<ReturnType<typeof request>>;
    assert.equal(answer.statusCode, 200);
    assert.equal(answer.headers['x-app'], 'broken');
    assert.notEqual(
      answer.headers['keep-alive'],
      'timeout=5',
      "the app's keep-alive is its connection's, not the client's",
    );
    await assert.rejects(
      answer.body.text(),
      'a body cut short upstream is cut short for the client, not padded or hung',
    );
    const echoed = await new UserAgent().request(untrusted.url('echo.localhost', '/'));
    assert.deepEqual(echoed.headers.getSetCookie(), ['app=1; Path=/', 'other=2; Path=/']);
    const completed = untrusted.logs.map((line) => JSON.parse(line)).filter((l) => l.msg === 'request completed');
    assert.ok(
      completed.some(
        (l) =>
          l.res?.statusCode === 200 && typeof l.responseTime === 'number' && /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(l.reqId),
      ),
      'proxied requests are logged when done',
    );
    await waitFor(() => untrusted.logs.some((l) => l.includes('the answer of broken ended early')));
  });

  test('an upstream that is down gives 502, one slower than upstreamTimeout 504, each with a page and a log line', async () => {
    const down = await new UserAgent().request(untrusted.url('down.localhost', '/'));
    assert.equal(down.status, 502);
    assert.match(await down.text(), /not reachable/);
    const started = Date.now();
    const late = await new UserAgent().request(untrusted.url('slow.localhost', '/'));
    assert.equal(late.status, 504);
    assert.ok(Date.now() - started < 1900, 'answered at the timeout, not when the upstream finally answers');
    assert.ok(untrusted.logs.some((l) => l.includes('upstream of slow did not answer in time')));
    assert.ok(untrusted.logs.some((l) => l.includes('upstream of down is unreachable')));
  });

  test('an unknown host gets 421; the probes answer on it', async () => {
    const ua = new UserAgent();
    assert.equal((await ua.request(untrusted.url('nobody.localhost', '/'))).status, 421);
    assert.equal((await ua.request(untrusted.url('nobody.localhost', '/healthz'))).status, 200);
    const appProbe = (await (await ua.request(untrusted.url('echo.localhost', '/healthz'))).json()) as Echo;
    assert.equal(appProbe.url, '/healthz', "an app's own /healthz is the app's");
  });
});
