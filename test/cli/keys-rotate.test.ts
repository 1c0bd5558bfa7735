// Changing the encryption key with users signed in: a new key is put first, `signonce keys rotate`
// re-seals every stored value under it while the gateway serves, `keys status` says what the old
// key still protects, and with the old key removed everything stored still opens.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { runCli, start, type Running } from '../support/cli.ts';
import { freePort } from '../support/ports.ts';
import { devSignIn, nativeDevSignIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { UserAgent } from '../support/user-agent.ts';

test('keys rotate and keys status: values under two keys, re-sealed while the gateway serves, then only the new key', async () => {
  const { dir, remove } = await tempDir();
  after(remove);
  const port = await freePort();
  const [oldKey, newKey] = [generateKey(), generateKey()];
  const [oldId, newId] = [oldKey, newKey].map((key) => new Keyring([key]).primaryKeyId);
  /** The same configuration with these keys. */
  const config = async (name: string, keys: string[]) => {
    const file = join(dir, `${name}.yaml`);
    await writeFile(
      file,
      stringify({
        publicUrl: `http://auth.localhost:${port}`,
        listen: { host: '127.0.0.1', port },
        store: `sqlite:${join(dir, 'signonce.db')}`,
        secrets: { encryptionKeys: keys },
        devMode: true,
        providers: [{ id: 'dev', type: 'dev' }],
        apps: [
          {
            id: 'app',
            hosts: [`app.localhost:${port}`],
            upstream: 'http://127.0.0.1:9',
            allowedExternalRedirectUrls: ['myapp://done'],
          },
        ],
      }),
    );
    return file;
  };
  let server: Running | undefined;
  after(() => server?.child.kill('SIGKILL'));
  const serve = async (file: string) => {
    if (server) {
      server.child.kill('SIGTERM');
      await server.finished;
    }
    server = start(['serve', '--config', file]);
    await server.waitForLine(/"msg":"listening/);
  };
  const app = `http://app.localhost:${port}`;
  // The upstream does not exist: a signed-in request reaches the proxy (502); a signed-out one is sent to sign in (302).
  const signedIn = async (ua: UserAgent) => (await ua.request(`${app}/`)).status === 502;
  const browser = async (name: string) => {
    const { ua } = await devSignIn(`${app}/.auth/login/dev`, name);
    assert.ok(await signedIn(ua), `${name} signed in`);
    return ua;
  };
  const tokenWorks = async (token: string) =>
    (await new UserAgent().request(`${app}/.auth/me`, { headers: { 'x-zumo-auth': token } })).status === 200;

  await serve(await config('old', [oldKey]));
  const early = await browser('early@example.com');
  const earlyToken = (await nativeDevSignIn(app, 'myapp://done', { user_id: 'early@example.com' })).authenticationToken;

  const both = await config('both', [newKey, oldKey]);
  await serve(both);
  const late = await browser('late@example.com');
  assert.ok(await signedIn(early), 'cookies sealed under the old key still open');
  const mixed = await runCli(['keys', 'status', '--config', both]);
  assert.equal(mixed.code, 0, mixed.stderr);
  assert.match(mixed.stdout, new RegExp(`${newId}  seals new values: \\d+ value`));
  assert.match(
    mixed.stdout,
    new RegExp(
      `${oldId}  opens only: [1-9]\\d* value\\(s\\) \\(.*sessions \\d.*\\).* -> still needed: run \`signonce keys rotate\``,
    ),
  );

  const rotated = await runCli(['keys', 'rotate', '--config', both, '--batch-size', '2']);
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.match(rotated.stderr, /re-sealing \d+ value\(s\) under key/);
  assert.match(
    rotated.stdout,
    new RegExp(
      `${oldId}  opens only: 0 value\\(s\\); 2 session\\(s\\) whose cookies it sealed.* -> still needed by those cookies`,
    ),
  );
  assert.ok(
    (await signedIn(early)) && (await signedIn(late)) && (await tokenWorks(earlyToken)),
    'everyone still signed in',
  );
  assert.equal((await runCli(['keys', 'rotate', '--config', both])).code, 0, 'again: nothing left to do');

  await serve(await config('new', [newKey]));
  assert.ok(await signedIn(late), 'a cookie sealed under the new key');
  assert.ok(await tokenWorks(earlyToken), 'the old session, its data re-sealed, still serves its authentication token');
  assert.ok(!(await signedIn(early)), 'a cookie sealed under the removed key no longer opens (keys status warned)');
  assert.equal((await runCli(['keys', 'rotate', '--config', both.replace('both', 'new')])).code, 0);
});
