import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Keyring, decodeKey, generateKey } from '../../src/crypto/keyring.ts';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { runCli, start } from '../support/cli.ts';
import { tempDir } from '../support/tmp.ts';
import { UserAgent } from '../support/user-agent.ts';
import { nativeDevSignIn } from '../support/sign-in.ts';
import { freePort } from '../support/ports.ts';
import { setTimeout as sleep } from 'node:timers/promises';

async function configFile(yaml: string): Promise<{ file: string; dir: string }> {
  const { dir, remove } = await tempDir();
  after(remove);
  const file = join(dir, 'signonce.yaml');
  await writeFile(file, yaml);
  return { file, dir };
}

test('keys generate prints a new 256-bit base64url key each time', async () => {
  const [a, b] = await Promise.all([runCli(['keys', 'generate']), runCli(['keys', 'generate'])]);
  assert.equal(a.code, 0);
  assert.equal(decodeKey(a.stdout.trim())?.length, 32);
  assert.notEqual(a.stdout, b.stdout);
  assert.equal((await runCli(['keys'])).code, 2);
});

test('unknown commands and options are usage errors (exit 2); --help lists the commands', async () => {
  const unknown = await runCli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  for (const command of [
    'serve',
    'demo',
    'check',
    'keys generate',
    'users add',
    'accounts delete',
    'groups add',
    'access check',
  ])
    assert.match(help.stdout, new RegExp(`signonce ${command}`));
  const badFlag = await runCli(['serve', '--confg', 'x.yaml']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /--confg/);
});

test('serve refuses a broken config with every problem listed, exit 2', async () => {
  const { file } = await configFile('publicUrl: ftp://auth\nsecrets: { encryptionKeys: [short] }\n');
  const result = await runCli(['serve', '--config', file]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /publicUrl/);
  assert.match(result.stderr, /secrets\.encryptionKeys\[0\]/);
  const missing = await runCli(['serve'], { SIGNONCE_CONFIG: join(file, '..', 'nope.yaml') });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.yaml/);
});

test('serve answers probes, finishes a request in flight on SIGTERM, closes the store and exits 0', async (t) => {
  // An app whose answer takes 700 ms: the stop must wait for it.
  let arrived!: () => void;
  const inFlight = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const upstream = createServer((_request, response) => {
    arrived();
    setTimeout(() => response.end('slow answer'), 700);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  after(() => new Promise((resolve) => upstream.close(resolve)));
  const { file, dir } = await configFile(
    [
      'publicUrl: http://auth.localhost:8080',
      'listen: { host: 127.0.0.1, port: 0 }',
      `store: sqlite:${join('data', 'signonce.db')}`,
      'secrets: { encryptionKeys: ["${TEST_KEY}"] }',
      `apps: [{ id: slow, hosts: [slow.localhost], upstream: "http://127.0.0.1:${(upstream.address() as AddressInfo).port}", unauthenticatedAction: AllowAnonymous }]`,
    ].join('\n'),
  );
  const server = start(['serve', '--config', file], { TEST_KEY: generateKey() });
  t.after(() => server.child.kill('SIGKILL'));
  const listening = JSON.parse(await server.waitForLine(/"msg":"listening/));
  const url = new URL(listening.url);
  assert.equal((await fetch(new URL('/healthz', url))).status, 200);
  assert.equal((await fetch(new URL('/readyz', url))).status, 200);

  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request(
      { host: url.hostname, port: url.port, path: '/report', headers: { host: 'slow.localhost' } },
      (response) => {
        let body = '';
        response
          .setEncoding('utf8')
          .on('data', (chunk: string) => {
            body += chunk;
          })
          .on('end', () => resolve({ status: response.statusCode!, body }));
      },
    )
      .on('error', reject)
      .end();
  });
  // The stop begins once the request is in flight at the app (not after a guessed delay).
  await inFlight;
  server.child.kill('SIGTERM');
  assert.deepEqual(await answer, { status: 200, body: 'slow answer' }, 'the request in flight was answered');

  const { code, stdout } = await server.finished;
  assert.equal(code, 0);
  assert.match(stdout, /"msg":"stopping/);
  assert.match(stdout, /"msg":"stopped"/);
  // SQLite removes the write-ahead log when the last connection closes cleanly.
  assert.ok(
    existsSync(join(dir, 'data', 'signonce.db')) && !existsSync(join(dir, 'data', 'signonce.db-wal')),
    'store closed cleanly',
  );
});

test('keys rotate-signing: a running gateway publishes the new key, signs with it, and still accepts tokens of the old one', async (t) => {
  const port = await freePort();
  const { file } = await configFile(
    [
      `publicUrl: http://auth.localhost:${port}`,
      `listen: { host: 127.0.0.1, port: ${port} }`,
      'store: sqlite:./signonce.db',
      'secrets: { encryptionKeys: ["${TEST_KEY}"] }',
      'devMode: true',
      'providers: [{ id: dev, type: dev }]',
      `apps: [{ id: app, hosts: ["app.localhost:${port}"], upstream: "http://127.0.0.1:9", allowedExternalRedirectUrls: ["myapp://done"] }]`,
    ].join('\n'),
  );
  const env = { TEST_KEY: generateKey() };
  const server = start(['serve', '--config', file], env);
  t.after(() => server.child.kill('SIGKILL'));
  await server.waitForLine(/"msg":"listening/);
  const at = (host: string, path: string) => `http://${host}:${port}${path}`;
  const nativeToken = async () =>
    (await nativeDevSignIn(at('app.localhost', ''), 'myapp://done', { user_id: 'rita@example.com' }))
      .authenticationToken;
  const algOf = (token: string) =>
    (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { alg: string }).alg;
  const accepted = async (token: string) =>
    (await new UserAgent().request(at('app.localhost', '/.auth/me'), { headers: { 'x-zumo-auth': token } })).status;
  const jwks = async () =>
    (await (await new UserAgent().request(at('auth.localhost', '/.well-known/jwks.json'))).json()) as {
      keys: Array<{ kid: string; alg: string }>;
    };

  const oldToken = await nativeToken();
  assert.equal(algOf(oldToken), 'EdDSA');
  const before = await jwks();
  assert.deepEqual(
    before.keys.map((k) => k.alg),
    ['EdDSA'],
  );

  const rotated = await runCli(['keys', 'rotate-signing', '--config', file, '--algorithm', 'ES256'], env);
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.match(rotated.stdout, /new signing key \S+ \(ES256\) signs from now on/);
  assert.match(rotated.stdout, new RegExp(`retired ${before.keys[0]!.kid} \\(EdDSA\\): published until \\d{4}-`));
  await sleep(1100);
  assert.deepEqual(
    (await jwks()).keys.map((k) => k.alg).sort(),
    ['ES256', 'EdDSA'],
    'both published during the overlap',
  );
  const newToken = await nativeToken();
  assert.equal(algOf(newToken), 'ES256', 'new tokens are signed with the new key');
  assert.equal(await accepted(newToken), 200);
  assert.equal(await accepted(oldToken), 200, 'tokens of the retired key work until they expire');
  assert.equal(
    (await runCli(['keys', 'rotate-signing', '--config', file, '--algorithm', 'HS256'], env)).code,
    2,
    'an HMAC is no signing key',
  );
});

test('users: add, set-password, disable, enable and delete local accounts (passwords only from standard input); accounts delete', async () => {
  const { file, dir } = await configFile(
    [
      'publicUrl: http://auth.localhost:8080',
      'store: sqlite:./signonce.db',
      'secrets: { encryptionKeys: ["${TEST_KEY}"] }',
      'providers: [{ id: local, type: password }, { id: staff, type: password, minLength: 16 }]',
    ].join('\n'),
  );
  const env = { TEST_KEY: generateKey() };
  const users = async (args: string[], stdin = '') => {
    const running = start(['users', ...args, '--config', file], env);
    running.child.stdin.end(stdin);
    return running.finished;
  };
  const store = async () => openStore(`sqlite:${join(dir, 'signonce.db')}`, { keyring: new Keyring([env.TEST_KEY]) });
  const withStore = async <T>(use: (opened: Store) => Promise<T>): Promise<T> => {
    const opened = await store();
    try {
      return await use(opened);
    } finally {
      await opened.close();
    }
  };
  const signIn = (password: string) =>
    withStore(async (opened) => (await new LocalAccounts(opened).signIn('staff', 'nina', password, '127.0.0.1')).ok);
  const disabled = (accountId: string) =>
    withStore(async (opened) => (await opened.getAccount(accountId))?.disabledAt !== undefined);

  const ambiguous = await users(['add', 'nina'], 'a long enough password\n');
  assert.equal(ambiguous.code, 2);
  assert.match(ambiguous.stderr, /--provider: name the password provider \(password providers: local, staff\)/);
  const weak = await users(['add', 'nina', '--provider', 'staff'], 'fifteen chars!!\n');
  assert.equal(weak.code, 1);
  assert.match(weak.stderr, /at least 16 characters/);
  const added = await users(['add', 'Nina', '--provider', 'staff'], 'a long enough password\n');
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /added nina at staff \(account [0-9a-f-]{36}\)/);
  assert.ok(!added.stdout.includes('long enough'), 'the password is never printed');
  assert.equal(await signIn('a long enough password'), true);

  const opened = await store();
  const { accountId: ninaAccount } = (await opened.getPasswordCredential('staff', 'nina'))!;
  const { secret: ninasSession } = await opened.createSession({ accountId: ninaAccount, lifetimeMs: 3_600_000 });
  await opened.upsertOidcArtifact(
    'RefreshToken',
    'ninas-refresh-token',
    { grantId: 'g', accountId: ninaAccount },
    undefined,
  );
  await opened.close();
  assert.equal((await users(['set-password', 'nina', '--provider', 'staff'], 'another long password\n')).code, 0);
  await withStore(async (reopened) => {
    assert.equal(
      await reopened.getSession(ninasSession),
      undefined,
      'a new password ends the sessions signed in with the old one',
    );
    assert.equal(
      await reopened.findOidcArtifact('RefreshToken', { id: 'ninas-refresh-token' }),
      undefined,
      'and the OpenID refresh tokens',
    );
  });
  assert.equal(await signIn('a long enough password'), false);
  assert.equal(await signIn('another long password'), true);
  const disabling = await users(['disable', 'nina', '--provider', 'staff']);
  assert.equal(disabling.code, 0);
  assert.match(disabling.stdout, /nina disabled \(the whole account/);
  assert.equal(await disabled(ninaAccount), true, 'the account, whatever identity signs in to it');
  assert.equal((await users(['enable', 'nina', '--provider', 'staff'])).code, 0);
  assert.equal(await disabled(ninaAccount), false);
  assert.equal(await signIn('another long password'), true);
  // The same for an account however it signs in, by its id.
  const accountsCli = (args: string[]) => runCli(['accounts', ...args, '--config', file], env);
  const { secret: again } = await withStore((s) => s.createSession({ accountId: ninaAccount, lifetimeMs: 3_600_000 }));
  const byId = await accountsCli(['disable', ninaAccount]);
  assert.equal(byId.code, 0, byId.stderr);
  assert.match(byId.stdout, new RegExp(`disabled account ${ninaAccount}: signed out everywhere`));
  assert.equal(await disabled(ninaAccount), true);
  assert.equal(await withStore((s) => s.getSession(again)), undefined, 'signed out');
  assert.equal((await accountsCli(['enable', ninaAccount])).code, 0);
  assert.equal(await disabled(ninaAccount), false);
  assert.equal((await accountsCli(['disable', 'no-such-account'])).code, 1);
  const deleted = await users(['delete', 'nina', '--provider', 'staff']);
  assert.equal(deleted.code, 0);
  assert.match(deleted.stdout, /every identity, token and session/);
  assert.equal((await users(['delete', 'nina', '--provider', 'staff'])).code, 1, 'gone');
  const other = await users(['add', 'omar', '--provider', 'staff'], 'a long enough password\n');
  const accountId = /account ([0-9a-f-]{36})/.exec(other.stdout)![1]!;
  const accounts = (args: string[]) => runCli(['accounts', ...args, '--config', file], env);
  const removed = await accounts(['delete', accountId]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, new RegExp(`deleted account ${accountId}`));
  assert.equal((await accounts(['delete', accountId])).code, 1, 'gone');
  assert.equal((await users(['delete', 'omar', '--provider', 'staff'])).code, 1, 'with its credential');
  assert.equal((await accounts(['remove', accountId])).code, 2);
  assert.equal((await users(['add', 'nina', '--provider', 'nobody'])).code, 2);
  assert.equal((await users(['frobnicate', 'nina'])).code, 2);
  assert.equal((await users(['add', 'bad name', '--provider', 'staff'])).code, 2);
});
