// `signonce audit` through the real command (dist/), on a real SQLite store.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { auditTable, limitOf, sinceOf } from '../../src/cli/audit.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { openStore, type AuditEvent } from '../../src/store/index.ts';
import { runCli, sqliteConfigured, start } from '../support/cli.ts';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const HOUR = 3_600_000;

test('--since: a duration back from now or an ISO 8601 date; anything else is refused', () => {
  for (const [value, at] of [
    ['24h', NOW - 24 * HOUR],
    ['7d', NOW - 7 * 24 * HOUR],
    ['1h30m', NOW - 1.5 * HOUR],
    ['2026-12-01', Date.parse('2026-12-01T00:00:00Z')],
    ['2026-12-01T08:00:00Z', Date.parse('2026-12-01T08:00:00Z')],
    ['2026-12-01T08:00:00.250+01:00', Date.parse('2026-12-01T07:00:00.250Z')],
  ] as const)
    assert.equal(sinceOf(value, NOW), at, value);
  // A bare number is neither (seconds? a year?), nor are dates Date.parse would guess at.
  for (const value of [
    '',
    '86400',
    '24 hours',
    '1.5h',
    '-1h',
    'yesterday',
    '12/01/2026',
    'Dec 1 2026',
    '2026-13-45',
    '2026-12-01T08:00',
  ])
    assert.match(
      (sinceOf(value, NOW) as { problem: string }).problem,
      /^--since ".*" is neither a duration \(e\.g\. 30m, 24h, 7d\) nor an ISO 8601 date/,
      value,
    );
});

test('--limit: a whole number from 1 to 10000', () => {
  for (const [value, limit] of [
    ['1', 1],
    ['100', 100],
    ['10000', 10_000],
  ] as const)
    assert.equal(limitOf(value), limit);
  for (const value of ['0', '10001', '-1', '1.5', '1e3', '', 'ten', '9999999999'])
    assert.deepEqual(limitOf(value), {
      problem: `--limit ${JSON.stringify(value)} is not a whole number from 1 to 10000`,
    });
});

test('the table replaces control characters, so a hostile user agent or address cannot garble the terminal', () => {
  const table = auditTable([{ id: 1, at: NOW, kind: 'sign-in', address: '\u001b[2J10.0.0.1\r\n', outcome: 'ok' }]);
  assert.equal(
    table,
    [
      'TIME                      KIND     OUTCOME  ACCOUNT  ACTOR  APP  ADDRESS         REQUEST',
      '2026-12-06T12:00:00.000Z  sign-in  ok       -        -      -    ?[2J10.0.0.1??  -',
    ].join('\n'),
  );
});

test('signonce audit: a table or JSON lines, newest first, filtered by time, account and kind; exit 2 for usage and config errors', async () => {
  const { dir, file, env, storeUrl, remove } = await sqliteConfigured();
  after(remove);
  const audit = (...args: string[]) => runCli(['audit', ...args, '--config', file], env);

  const none = await audit();
  assert.deepEqual(none, { code: 0, stdout: '', stderr: 'no audit events match\n' });

  // Seeded through the store, at times relative to now: two days ago, an hour ago, a minute ago.
  const now = Date.now();
  let clock = now - 48 * HOUR;
  const store = await openStore(storeUrl, {
    keyring: new Keyring([env.TEST_KEY]),
    now: () => clock,
  });
  const old = await store.appendAudit({ kind: 'sign-in', outcome: 'ok', accountId: 'acct-ann', address: '192.0.2.1' });
  clock = now - HOUR;
  const failed = await store.appendAudit({
    kind: 'sign-in-failed',
    outcome: 'bad-password',
    app: 'wiki',
    address: '192.0.2.9',
    requestId: 'req-9',
    detail: { provider: 'local' },
  });
  clock = now - 60_000;
  const rotated = await store.appendAudit({ kind: 'key-rotated', actor: 'cli', accountId: 'acct-ann' });
  await store.close();

  const all = await audit();
  assert.equal(all.code, 0, all.stderr);
  const time = (at: number) => new Date(at).toISOString();
  assert.equal(
    all.stdout,
    [
      'TIME                      KIND            OUTCOME       ACCOUNT   ACTOR  APP   ADDRESS    REQUEST',
      `${time(rotated.at)}  key-rotated     -             acct-ann  cli    -     -          -`,
      `${time(failed.at)}  sign-in-failed  bad-password  -         -      wiki  192.0.2.9  req-9`,
      `${time(old.at)}  sign-in         ok            acct-ann  -      -     192.0.2.1  -`,
      '',
    ].join('\n'),
  );

  const lines = async (...args: string[]) => {
    const result = await audit('--json', ...args);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as unknown);
  };
  assert.deepEqual(await lines(), [rotated, failed, old], 'every field, detail included');
  assert.deepEqual(await lines('--since', '24h'), [rotated, failed]);
  assert.deepEqual(await lines('--since', time(now - 30 * 60_000)), [rotated]);
  assert.deepEqual(await lines('--account', 'acct-ann'), [rotated, old]);
  assert.deepEqual(await lines('--kind', 'sign-in', '--kind', 'sign-in-failed'), [failed, old]);
  assert.deepEqual(await lines('--account', 'acct-ann', '--kind', 'sign-in'), [old]);
  assert.deepEqual(await lines('--limit', '2'), [rotated, failed]);

  for (const [args, problem] of [
    [['--since', 'yesterday'], /--since "yesterday" is neither a duration/],
    [['--limit', '0'], /--limit "0" is not a whole number from 1 to 10000/],
    [['--nope'], /Unknown option '--nope'/],
    [['extra'], /unexpected argument "extra"/],
  ] as const) {
    const refused = await audit(...args);
    assert.equal(refused.code, 2, args.join(' '));
    assert.match(refused.stderr, problem);
    assert.match(refused.stderr, /usage: signonce audit/);
  }
  const badConfig = await runCli(['audit', '--config', join(dir, 'missing.yaml')], env);
  assert.equal(badConfig.code, 2);
});

test("what operators' commands change is audited: actor cli, the command, the OS user; never a password", async () => {
  const { file, env, storeUrl, remove } = await sqliteConfigured(['providers: [{ id: local, type: password }]']);
  after(remove);
  const PASSWORD = 'a long and unusual passphrase';
  const users = async (...args: string[]) => {
    const running = start(['users', ...args, '--config', file], env);
    running.child.stdin.end(`${PASSWORD}\n`);
    const done = await running.finished;
    assert.equal(done.code, 0, done.stderr);
  };
  const command = async (...args: string[]) => {
    const done = await runCli([...args, '--config', file], env);
    assert.equal(done.code, 0, done.stderr);
  };
  await users('add', 'Dana');
  const store = await openStore(storeUrl, { keyring: new Keyring([env.TEST_KEY]) });
  const dana = (await store.getPasswordCredential('local', 'dana'))!.accountId;
  await store.close();
  await users('set-password', 'dana');
  await command('groups', 'add', 'ops', 'dana');
  await command('groups', 'remove', 'ops', 'dana');
  await command('accounts', 'disable', dana);
  await command('accounts', 'enable', dana);
  await command('keys', 'rotate-signing');
  await command('keys', 'rotate');
  await users('delete', 'dana');

  const listed = await runCli(['audit', '--json', '--config', file], env);
  assert.equal(listed.code, 0, listed.stderr);
  assert.doesNotMatch(listed.stdout, /passphrase/, 'never a password');
  const events = listed.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditEvent)
    .reverse();
  assert.deepEqual(
    events.map((e) => [e.kind, e.accountId === dana ? 'dana' : e.accountId, e.actor, e.userAgent]),
    [
      ['user-created', 'dana', 'cli', 'signonce users add'],
      ['password-changed', 'dana', 'cli', 'signonce users set-password'],
      ['group-added', 'dana', 'cli', 'signonce groups add'],
      ['group-removed', 'dana', 'cli', 'signonce groups remove'],
      ['account-disabled', 'dana', 'cli', 'signonce accounts disable'],
      ['account-enabled', 'dana', 'cli', 'signonce accounts enable'],
      ['key-rotated', undefined, 'cli', 'signonce keys rotate-signing'],
      ['key-rotated', undefined, 'cli', 'signonce keys rotate'],
      ['account-deleted', 'dana', 'cli', 'signonce users delete'],
    ],
  );
  assert.ok(events.every((e) => e.outcome === 'success'));
  assert.deepEqual(events[2]!.detail, { group: 'ops', osUser: userInfo().username });
  assert.deepEqual(events[0]!.detail, { provider: 'local', username: 'dana', osUser: userInfo().username });
  assert.deepEqual(Object.keys(events[6]!.detail as object).sort(), ['added', 'alg', 'key', 'osUser', 'retired']);
  assert.equal((events[7]!.detail as { key: string }).key, 'encryption');
});
