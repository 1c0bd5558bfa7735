import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { start } from '../support/cli.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('demo: runs with nothing configured, prints its URLs, and Ctrl-C stops it and removes its folder', async () => {
  const port = await freePort();
  const demo = start(['demo', '--port', String(port)]);
  await demo.waitForLine(/Press Ctrl-C to stop/);
  const urls = Object.fromEntries(demo.stdout().split('\n')
    .map((line) => /^\s+(app1|app2|auth host|config)\s+(\S+)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1]!, m[2]!]));
  assert.equal(urls.app1, `http://app1.localhost:${port}/`);
  assert.equal(urls.app2, `http://app2.localhost:${port}/`);
  assert.equal(urls['auth host'], `http://auth.localhost:${port}/healthz`);
  assert.ok(urls.config && existsSync(urls.config), 'the demo config file exists while it runs');
  assert.match(demo.stdout(), /"msg":"devMode is on/);

  // *.localhost is loopback; Node's fetch needs the Host header set explicitly.
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`, { headers: { host: `auth.localhost:${port}` } });
  assert.equal(ready.status, 200);

  demo.child.kill('SIGINT');
  const { code } = await demo.finished;
  assert.equal(code, 0);
  assert.equal(existsSync(urls.config), false, 'the temporary folder is removed');
});

test('demo: a port that is not a number is a usage error', async () => {
  const demo = start(['demo', '--port', 'eighty']);
  const { code, stderr } = await demo.finished;
  assert.equal(code, 2);
  assert.match(stderr, /--port: "eighty" is not a port number/);
});
