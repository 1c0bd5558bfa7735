// `signonce store migrate`, the real command: users signed in on one store are still signed in on
// the other (cookies, authentication tokens, provider tokens), a copy killed midway resumes, and
// targets holding other data, the same store twice and bad or unreachable URLs are refused.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { COPIED_TABLES } from '../../src/store/copy.ts';
import { openStore, type AuditEvent, type Session } from '../../src/store/index.ts';
import { runCli, start } from '../support/cli.ts';
import { startTestGateway, type Echo } from '../support/gateway.ts';
import { freePort } from '../support/ports.ts';
import { admin, createSchema, postgresSkipReason } from '../support/postgres.ts';
import { nativeDevSignIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';

let adminSql: ReturnType<typeof admin> | undefined;
const schemas: string[] = [];
after(async () => {
  for (const schema of schemas) await adminSql!.unsafe(`DROP SCHEMA ${schema} CASCADE`);
  await adminSql?.end();
});

async function postgresStore(): Promise<string> {
  adminSql ??= admin();
  const { schema, url } = await createSchema(adminSql);
  schemas.push(schema);
  return url;
}

async function sqliteDir(): Promise<string> {
  const { dir, remove } = await tempDir();
  after(remove);
  return dir;
}

/** Rows per copied table, counted below the Store interface. */
async function rawCounts(url: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  if (url.startsWith('sqlite:')) {
    const db = new DatabaseSync(url.slice('sqlite:'.length));
    for (const { name } of COPIED_TABLES)
      counts[name] = Number(db.prepare(`SELECT COUNT(*) AS n FROM ${name}`).get()!.n);
    db.close();
  } else {
    const schema = new URL(url).searchParams.get('search_path')!;
    for (const { name } of COPIED_TABLES)
      counts[name] = Number((await adminSql!.unsafe(`SELECT COUNT(*) AS n FROM ${schema}.${name}`))[0]!.n);
  }
  return counts;
}

const migrate = (from: string, to: string, ...options: string[]) =>
  runCli(['store', 'migrate', '--from', from, '--to', to, ...options]);

test('signed-in users survive SQLite -> PostgreSQL -> SQLite: the same cookie and authentication token, the same tokens at /.auth/me', {
  skip: postgresSkipReason,
}, async () => {
  const dir = await sqliteDir();
  const key = generateKey();
  const port = await freePort();
  const origin = `http://app.localhost:${port}`;
  const gatewayOn = (store: string) =>
    startTestGateway((_port, upstream) => ({
      listen: { host: '127.0.0.1', port },
      publicUrl: `http://auth.localhost:${port}`,
      store,
      secrets: { encryptionKeys: [key] },
      devMode: true,
      providers: [{ id: 'dev', type: 'dev' }],
      // The tokens are stored beside the gateway, through a Store of their own: nothing cached may hide them.
      session: { cacheTtl: '0s' },
      apps: [
        {
          id: 'app',
          hosts: [`app.localhost:${port}`],
          upstream,
          defaultProvider: 'dev',
          tokenStore: true,
          exposeRefreshTokens: true,
          allowedExternalRedirectUrls: ['myapp://done'],
        },
      ],
    }));

  const sqlite = `sqlite:${join(dir, 'signonce.db')}`;
  const browser = new UserAgent({
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  });
  let token = '';
  /** Who the cookie and the token are at the app, and what /.auth/me shows each. */
  const seen = async () => {
    const as = async (ua: UserAgent, headers: Record<string, string>) => {
      const answer = await ua.request(`${origin}/data`, { headers });
      assert.equal(answer.status, 200);
      const echo = (await answer.json()) as Echo;
      const me = await ua.request(`${origin}/.auth/me`, { headers });
      assert.equal(me.status, 200);
      return {
        id: echo.headers['x-ms-client-principal-id'],
        name: echo.headers['x-ms-client-principal-name'],
        me: await me.json(),
      };
    };
    return { cookie: await as(browser, {}), token: await as(new UserAgent(), { 'x-zumo-auth': token }) };
  };

  const first = await gatewayOn(sqlite);
  let before;
  let audited: AuditEvent[] = [];
  const sessions: Session[] = [];
  try {
    const form = await browser.navigate(`${origin}/`);
    assert.equal(
      (await browser.submitForm(finalUrl(form), await form.text(), { user_id: 'ann@example.com' })).status,
      200,
    );
    token = (await nativeDevSignIn(origin, 'myapp://done', { user_id: 'bob@example.com' })).authenticationToken;
    const store = await openStore(sqlite, { keyring: new Keyring([key]) });
    for (const user of ['ann@example.com', 'bob@example.com']) {
      const { accountId } = (await store.findIdentity('dev', user))!;
      await store.putTokens(
        { accountId, provider: 'dev', resource: '' },
        {
          accessToken: `access-${user}`,
          refreshToken: `refresh-${user}`,
          idToken: `id-${user}`,
          expiresAt: Date.now() + 3_600_000,
        },
      );
      for (const { ref } of await store.listAccountSessions(accountId))
        await store.touchSession(ref, Date.now() + 1000);
      sessions.push(...(await store.listAccountSessions(accountId)));
    }
    // The gateway's audit events of the two sign-ins, newest first.
    audited = await store.listAudit({ limit: 100 });
    assert.equal(audited.length, 2);
    await store.close();
    before = await seen();
  } finally {
    await first.close();
  }
  assert.deepEqual(
    [before.cookie.id, before.cookie.name, before.token.id],
    ['ann@example.com', 'ann@example.com', 'bob@example.com'],
  );
  assert.match(JSON.stringify(before.cookie.me), /"access_token":"access-ann@example\.com"/);
  assert.match(JSON.stringify(before.token.me), /"refresh_token":"refresh-bob@example\.com"/);

  const postgres = await postgresStore();
  const back = `sqlite:${join(dir, 'back', 'signonce.db')}`;
  for (const [from, to] of [
    [sqlite, postgres],
    [postgres, back],
  ] as const) {
    const copied = await migrate(from, to);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stdout, /counts verified/);
    assert.match(copied.stdout, /^sessions\s+2\s+2\s+2\s+0$/m);
    assert.deepEqual(await rawCounts(to), await rawCounts(from));
    const gateway = await gatewayOn(to);
    try {
      assert.deepEqual(await seen(), before, `signed in as before on ${to.split(':')[0]}`);
    } finally {
      await gateway.close();
    }
  }
  // The audit log came through with its ids, and appending goes on after them.
  const copiedBack = await openStore(back, { keyring: new Keyring([key]) });
  try {
    assert.deepEqual(await copiedBack.listAudit({ limit: 100 }), audited);
    assert.ok((await copiedBack.appendAudit({ kind: 'sign-out' })).id > audited[0]!.id);
    // Sessions came with their devices and last uses.
    assert.deepEqual(
      (await Promise.all(sessions.map((s) => copiedBack.listAccountSessions(s.accountId)))).flat(),
      sessions,
    );
    assert.ok(sessions.every((s) => s.lastSeenAt > s.createdAt));
    assert.deepEqual(
      sessions.map((s) => [s.userAgent, s.address]),
      [
        [browser.headers['user-agent'], '127.0.0.1'],
        [undefined, '127.0.0.1'],
      ],
    );
  } finally {
    await copiedBack.close();
  }
});

const ROWS = 2000;

/** A source store with ROWS accounts, each with an identity, tokens and a session (raw rows). */
async function seededSource(): Promise<string> {
  const path = join(await sqliteDir(), 'source.db');
  await (await openStore(`sqlite:${path}`, { keyring: new Keyring([generateKey()]) })).close();
  const db = new DatabaseSync(path);
  const insert = (sql: string) => db.prepare(sql);
  const accounts = insert('INSERT INTO accounts (id, created_at) VALUES (?, ?)');
  const identities = insert('INSERT INTO identities (provider, subject, account_id, created_at) VALUES (?, ?, ?, ?)');
  const tokens = insert(
    'INSERT INTO provider_tokens (account_id, provider, resource, sealed, updated_at) VALUES (?, ?, ?, ?, ?)',
  );
  const sessions = insert(
    'INSERT INTO sessions (id_hash, account_id, sealed_data, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
  );
  db.exec('BEGIN');
  for (let i = 0; i < ROWS; i++) {
    const account = `account-${i}`;
    accounts.run(account, i);
    identities.run('dev', `user-${i}`, account, i);
    tokens.run(account, 'dev', '', `sealed-${i}`, i);
    sessions.run(`hash-${i}`, account, `sealed-${i}`, i, i + 1e12);
  }
  db.exec('COMMIT');
  db.close();
  return `sqlite:${path}`;
}

for (const kind of ['sqlite', 'postgres'] as const) {
  test(`a copy to ${kind} killed midway resumes where it stopped; a third run is a no-op`, {
    skip: kind === 'postgres' ? postgresSkipReason : undefined,
  }, async () => {
    const source = await seededSource();
    const target = kind === 'sqlite' ? `sqlite:${join(await sqliteDir(), 'target.db')}` : await postgresStore();
    const killed = start(['store', 'migrate', '--from', source, '--to', target, '--batch-size', '10']);
    // Killed as soon as it reports the first table done: hundreds of batches of the others remain.
    for (const deadline = Date.now() + 30_000; !/^accounts: /m.test(killed.stderr()); ) {
      assert.ok(Date.now() < deadline && killed.child.exitCode === null, `no progress line: ${killed.stderr()}`);
      await sleep(5);
    }
    killed.child.kill('SIGKILL');
    await killed.finished;
    const partial = await rawCounts(target);
    assert.equal(partial.accounts, ROWS);
    assert.ok(partial.sessions! < ROWS, `interrupted before the sessions were all copied (${partial.sessions})`);

    const resumed = await migrate(source, target, '--batch-size', '10');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resumed the copy/);
    assert.match(
      resumed.stdout,
      new RegExp(`^accounts\\s+${ROWS}\\s+${ROWS}\\s+0\\s+0$`, 'm'),
      'accounts were not copied again',
    );
    assert.match(
      resumed.stdout,
      new RegExp(`^sessions\\s+${ROWS}\\s+${ROWS}\\s+${ROWS - partial.sessions!}\\s+0$`, 'm'),
    );
    assert.match(resumed.stdout, /counts verified/);
    const counts = await rawCounts(source);
    assert.deepEqual(await rawCounts(target), counts);

    const again = await migrate(source, target);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /had finished before: nothing copied/);
    for (const { name } of COPIED_TABLES)
      assert.match(again.stdout, new RegExp(`^${name}\\s+${counts[name]}\\s+${counts[name]}\\s+0\\s+0$`, 'm'));
    assert.deepEqual(await rawCounts(target), counts);
  });
}

test('refusals: a target holding other data (unless --merge), one store twice, unknown URLs, an unreachable PostgreSQL (its password never printed)', async () => {
  const dir = await sqliteDir();
  const storeWith = async (name: string, user: string) => {
    const url = `sqlite:${join(dir, name)}`;
    const store = await openStore(url, { keyring: new Keyring([generateKey()]) });
    await store.resolveIdentity('dev', user);
    await store.instanceSecret('pairwise');
    await store.close();
    return url;
  };
  const source = await storeWith('source.db', 'ann');
  const target = await storeWith('target.db', 'bob');

  const before = await rawCounts(target);
  const refused = await migrate(source, target);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /is not empty \(accounts: 1, identities: 1, instance_secrets: 1\)/);
  assert.match(refused.stderr, /run again with --merge/);
  assert.deepEqual(await rawCounts(target), before, 'the target is untouched');

  const merged = await migrate(source, target, '--merge');
  assert.equal(merged.code, 0, merged.stderr);
  assert.match(merged.stderr, /instance secret "pairwise" differs between the stores and the target's is kept/);
  assert.match(merged.stdout, /^accounts\s+1\s+2\s+1\s+0$/m);
  assert.match(merged.stdout, /^instance_secrets\s+1\s+1\s+0\s+1$/m);
  assert.match(merged.stdout, /counts verified; 1 source rows were in the target already/);
  const mergedAgain = await migrate(source, target, '--merge');
  assert.equal(mergedAgain.code, 0, mergedAgain.stderr);
  assert.match(mergedAgain.stdout, /^accounts\s+1\s+2\s+0\s+1$/m);

  const sameStore = await migrate(`sqlite:${relative(process.cwd(), join(dir, 'source.db'))}`, source);
  assert.equal(sameStore.code, 2);
  assert.match(sameStore.stderr, /--from and --to name the same store/);
  const unknown = await migrate(source, 'mysql://db/signonce');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /a store URL is sqlite:PATH or postgres:\/\//);
  assert.equal((await runCli(['store', 'migrate', '--from', source])).code, 2);
  assert.equal((await migrate(source, target, '--batch-size', '0')).code, 2);
  const missing = await migrate(`sqlite:${join(dir, 'nope.db')}`, target);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no file .*nope\.db/);

  const closed = await freePort();
  const unreachable = `postgres://signonce:Pa55-w0rd@127.0.0.1:${closed}/signonce`;
  for (const [side, result] of [
    ['target', await migrate(source, unreachable)],
    ['source', await migrate(unreachable, target)],
  ] as const) {
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`cannot open the ${side} store postgres://127\\.0\\.0\\.1:${closed}/signonce: `),
    );
    assert.doesNotMatch(result.stderr + result.stdout, /Pa55-w0rd/);
  }
  assert.match((await runCli(['--help'])).stdout, /signonce store migrate --from URL --to URL/);
});
