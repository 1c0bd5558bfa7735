// The real proxies the forward-auth tests put in front of SignOnce (test/support/proxies.ts): each
// passes a request through to an echo server, two run at once, a broken config fails with the
// proxy's own message, and close() leaves nothing listening.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEcho, type Echo } from '../support/gateway.ts';
import {
  accepts,
  caddySkipReason,
  nginxSkipReason,
  startCaddy,
  startNginx,
  type RunningProxy,
} from '../support/proxies.ts';

const nginxConfig = (upstream: string) => `
  server {
    listen 127.0.0.1:{{port}};
    location / { proxy_pass ${upstream}; }
  }`;

const caddyConfig = (upstream: string) => `
  :{{port}} {
    reverse_proxy ${upstream}
  }`;

// Each proxy, with the message it gives for an unknown directive.
const proxies = [
  {
    name: 'nginx',
    skip: nginxSkipReason,
    start: startNginx,
    config: nginxConfig,
    message: /unknown directive "bogus_directive"/,
  },
  {
    name: 'caddy',
    skip: caddySkipReason,
    start: startCaddy,
    config: caddyConfig,
    message: /unrecognized directive: bogus_directive/,
  },
];

async function throughProxy(proxy: RunningProxy, path: string, marker: string): Promise<Echo> {
  const response = await fetch(`${proxy.url}${path}`, { headers: { 'x-signonce-test': marker } });
  assert.equal(response.status, 200, proxy.logs());
  return (await response.json()) as Echo;
}

let echo: Awaited<ReturnType<typeof startEcho>>;
before(async () => {
  echo = await startEcho();
});
after(async () => {
  echo.server.closeAllConnections();
  await new Promise((resolve) => echo.server.close(resolve));
});

for (const { name, skip, start, config } of proxies) {
  describe(`${name} on loopback`, { skip }, () => {
    test('passes a request with its path and headers to the upstream', async (t) => {
      const proxy = await start(config(echo.url));
      t.after(() => proxy.close());
      assert.equal(proxy.url, `http://127.0.0.1:${proxy.port}`);
      const seen = await throughProxy(proxy, '/some/path?q=1', 'hello');
      assert.equal(seen.url, '/some/path?q=1');
      assert.equal(seen.headers['x-signonce-test'], 'hello');
    });

    test('two at once, each on its own port', async (t) => {
      const [a, b] = await Promise.all([start(config(echo.url)), start(config(echo.url))]);
      t.after(() => Promise.all([a!.close(), b!.close()]));
      assert.notEqual(a!.port, b!.port);
      const [seenA, seenB] = await Promise.all([throughProxy(a!, '/a', 'first'), throughProxy(b!, '/b', 'second')]);
      assert.deepEqual([seenA.url, seenA.headers['x-signonce-test']], ['/a', 'first']);
      assert.deepEqual([seenB.url, seenB.headers['x-signonce-test']], ['/b', 'second']);
    });

    test('close() stops it: its port no longer accepts connections; logs() still answers', async () => {
      const proxy = await start(config(echo.url));
      await throughProxy(proxy, '/', 'x');
      await proxy.close();
      await proxy.close();
      assert.equal(await accepts(proxy.port), false);
      assert.equal(typeof proxy.logs(), 'string');
    });
  });
}

for (const { name, skip, start, config, message } of proxies) {
  test(`${name}: a broken config fails to start with ${name}'s own message`, { skip }, async () => {
    const bad = config(echo.url).replace(/\}\s*$/, '  bogus_directive on;\n  }');
    await assert.rejects(start(bad), (error: Error) => {
      assert.match(error.message, message);
      return true;
    });
  });
}
