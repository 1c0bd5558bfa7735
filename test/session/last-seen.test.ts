// "Last seen" and session.idleTimeout: the pure decision, table-tested with its edges, and the
// per-instance tracker over a real SQLite store whose rows show every write it made.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { LastSeen, TOUCH_INTERVAL_MS, isIdle } from '../../src/session/last-seen.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { tempDir } from '../support/tmp.ts';

const MINUTE = 60_000;
const TIMEOUT = 5 * MINUTE;

test('isIdle: unused for longer than the timeout, since the later of the store and this instance', () => {
  const now = 1_000_000_000;
  const rows: Array<[string, { lastSeenAt: number; usedHereAt: number | undefined; idleTimeoutMs: number }, boolean]> =
    [
      ['used just now', { lastSeenAt: now, usedHereAt: undefined, idleTimeoutMs: TIMEOUT }, false],
      ['exactly at the boundary', { lastSeenAt: now - TIMEOUT, usedHereAt: undefined, idleTimeoutMs: TIMEOUT }, false],
      ['a millisecond past it', { lastSeenAt: now - TIMEOUT - 1, usedHereAt: undefined, idleTimeoutMs: TIMEOUT }, true],
      [
        'the store is old but this instance used it lately',
        { lastSeenAt: now - 10 * TIMEOUT, usedHereAt: now - MINUTE, idleTimeoutMs: TIMEOUT },
        false,
      ],
      [
        'this instance used it long ago, another lately (the store)',
        { lastSeenAt: now - MINUTE, usedHereAt: now - 10 * TIMEOUT, idleTimeoutMs: TIMEOUT },
        false,
      ],
      ['both long ago', { lastSeenAt: now - TIMEOUT - 2, usedHereAt: now - TIMEOUT - 1, idleTimeoutMs: TIMEOUT }, true],
      [
        "another instance's clock ahead: its last use is in this one's future",
        { lastSeenAt: now + 3 * MINUTE, usedHereAt: now - 10 * TIMEOUT, idleTimeoutMs: TIMEOUT },
        false,
      ],
      [
        'lastSeenAt far in the future',
        { lastSeenAt: now + 1e12, usedHereAt: undefined, idleTimeoutMs: TIMEOUT },
        false,
      ],
      ['timeout off (0)', { lastSeenAt: 0, usedHereAt: undefined, idleTimeoutMs: 0 }, false],
      ['timeout off, never used here', { lastSeenAt: now - 1e12, usedHereAt: undefined, idleTimeoutMs: 0 }, false],
    ];
  for (const [name, row, idle] of rows) assert.equal(isIdle({ now, ...row }), idle, name);
});

async function storeAt(clock: { now: number }): Promise<Store> {
  const { dir, remove } = await tempDir();
  const store = await openStore(`sqlite:${join(dir, 'signonce.db')}`, {
    keyring: new Keyring([generateKey()]),
    now: () => clock.now,
  });
  after(async () => {
    await store.close();
    await remove();
  });
  return store;
}

/** A log that keeps its warnings. */
const warnings = () => {
  const lines: string[] = [];
  return { lines, warn: (_details: object, message: string) => lines.push(message) };
};

test('at most one store write per session per minute per instance, never waited for', async () => {
  const clock = { now: 1_000_000_000 };
  const store = await storeAt(clock);
  const { account } = await store.resolveIdentity('dev', 'busy');
  const { secret, session } = await store.createSession({ accountId: account.id, lifetimeMs: 8 * 3_600_000 });
  const lastSeen = new LastSeen({ store, idleTimeoutMs: 0, log: warnings(), now: () => clock.now });
  const stored = async () => {
    await tick();
    return (await store.getSession(secret))!.lastSeenAt;
  };
  const start = clock.now;
  // Uses every 10 s for 3 minutes: the store hears of one a minute (the first due), no more.
  const written = new Set<number>();
  for (let at = 0; at <= 3 * MINUTE; at += 10_000) {
    clock.now = start + at;
    assert.equal(await lastSeen.use((await store.getSession(secret))!), true);
    written.add(await stored());
  }
  assert.deepEqual([...written], [start, start + MINUTE, start + 2 * MINUTE, start + 3 * MINUTE]);
  assert.equal(TOUCH_INTERVAL_MS, MINUTE);

  // A session another instance told the store of lately is not written again before a minute.
  clock.now += 30_000;
  await store.touchSession(session.ref, clock.now);
  clock.now += 40_000;
  await lastSeen.use((await store.getSession(secret))!);
  assert.equal(await stored(), clock.now - 40_000);
});

test('idleTimeout: an idle session is revoked; one in steady use on another instance never is', async () => {
  const clock = { now: 1_000_000_000 };
  const store = await storeAt(clock);
  const { account } = await store.resolveIdentity('dev', 'idle');
  const a = new LastSeen({ store, idleTimeoutMs: TIMEOUT, log: warnings(), now: () => clock.now });

  const steady = await store.createSession({ accountId: account.id, lifetimeMs: 8 * 3_600_000 });
  // Used on A every 50 s for an hour: another instance, which knows only the store (up to a
  // minute behind), never judges it idle.
  for (let i = 0; i < 73; i++) {
    clock.now += 50_000;
    assert.equal(await a.use((await store.getSession(steady.secret))!), true);
    await tick();
    const { lastSeenAt } = (await store.getSession(steady.secret))!;
    assert.equal(isIdle({ now: clock.now, lastSeenAt, usedHereAt: undefined, idleTimeoutMs: TIMEOUT }), false);
  }

  // Left unused: live exactly at the timeout (A's own last use, newer than the store's)...
  const lastUse = clock.now;
  clock.now = lastUse + TIMEOUT;
  const seen = (await store.getSession(steady.secret))!;
  assert.ok(seen.lastSeenAt < lastUse, 'the store has not heard of the last use');
  assert.equal(await a.use(seen), true);
  // ...then unused for longer than the timeout: not live, and revoked for every instance.
  clock.now += TIMEOUT + 1;
  assert.equal(await a.use((await store.getSession(steady.secret))!), false);
  assert.equal(await store.getSession(steady.secret), undefined);

  // An instance that never saw it judges by the store alone.
  const quiet = await store.createSession({ accountId: account.id, lifetimeMs: 8 * 3_600_000 });
  const b = new LastSeen({ store, idleTimeoutMs: TIMEOUT, log: warnings(), now: () => clock.now });
  clock.now += TIMEOUT + 1;
  assert.equal(await b.use((await store.getSession(quiet.secret))!), false);
  assert.equal(await store.getSession(quiet.secret), undefined);
});

test('a store that cannot record last uses fails no request and is logged once', async () => {
  const clock = { now: 1_000_000_000 };
  const { dir, remove } = await tempDir();
  after(remove);
  const store = await openStore(`sqlite:${join(dir, 'signonce.db')}`, {
    keyring: new Keyring([generateKey()]),
    now: () => clock.now,
  });
  const { account } = await store.resolveIdentity('dev', 'outage');
  const sessions = await Promise.all(
    [1, 2, 3].map(async () => (await store.createSession({ accountId: account.id, lifetimeMs: 3_600_000 })).session),
  );
  await store.close();
  const log = warnings();
  const lastSeen = new LastSeen({ store, idleTimeoutMs: TIMEOUT, log, now: () => clock.now });
  clock.now += 2 * MINUTE;
  for (const session of sessions) assert.equal(await lastSeen.use(session), true);
  await tick();
  assert.deepEqual(log.lines, ['could not record when sessions were last used; requests go on']);
});
