import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { start } from '../support/cli.ts';
import { freePort } from '../support/ports.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';

test('demo: runs with nothing configured, prints its URLs, and Ctrl-C stops it and removes its folder', async (t) => {
  const port = await freePort();
  const demo = start(['demo', '--port', String(port)]);
  t.after(() => demo.child.kill('SIGKILL'));
  await demo.waitForLine(/Press Ctrl-C to stop/);
  const urls = Object.fromEntries(
    demo
      .stdout()
      .split('\n')
      .map((line) => /^\s+(app1|app2|auth host|config)\s+(\S+)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  );
  assert.equal(urls.app1, `http://app1.localhost:${port}/`);
  assert.equal(urls.app2, `http://app2.localhost:${port}/`);
  assert.equal(urls['auth host'], `http://auth.localhost:${port}/healthz`);
  assert.ok(urls.config && existsSync(urls.config), 'the demo config file exists while it runs');
  assert.match(demo.stdout(), /"msg":"devMode is on/);

  // *.localhost is loopback; Node's fetch needs the Host header set explicitly.
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`, { headers: { host: `auth.localhost:${port}` } });
  assert.equal(ready.status, 200);

  // A newcomer's path: open app1, sign in on the dev form, see yourself; app2 shares nothing yet.
  const ua = new UserAgent();
  const form = await ua.navigate(urls.app1);
  assert.match(finalUrl(form), new RegExp(`^http://auth\\.localhost:${port}/\\.auth/login/dev/form\\?state=`));
  const page = await ua.submitForm(finalUrl(form), await form.text(), {
    user_id: 'newcomer@example.com',
    name: 'New Comer',
    roles: 'reader,writer',
  });
  assert.equal(finalUrl(page), urls.app1);
  const html = await page.text();
  assert.match(html, /Signed in as <b>newcomer@example\.com<\/b>/);
  assert.match(html, /x-ms-client-principal-idp/);
  const me = await ua.request(`${urls.app1}.auth/me`);
  assert.equal(((await me.json()) as Array<{ user_id: string }>)[0]?.user_id, 'newcomer@example.com');

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
