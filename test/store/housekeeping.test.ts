// A week of simulated sign-in traffic against a real store, with housekeeping on its schedule
// (node:test's mock timers drive it; the store's clock is the same simulated time): the store
// stays the size of what is live instead of growing with every sign-in ever made.
import { after, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { startHousekeeping } from '../../src/store/housekeeping.ts';
import { openStore, type PurgeCounts, type Store } from '../../src/store/index.ts';
import { admin, createSchema, postgresSkipReason } from '../support/postgres.ts';
import { tempDir } from '../support/tmp.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SESSION_LIFETIME = 8 * HOUR;
const RENEWABLE = 72 * HOUR;
const INTERVAL = 30 * 60_000;
const SIGN_INS_PER_HOUR = 4;

interface Sizes {
  sessions: number;
  codes: number;
  failures: number;
  bytes?: number;
}

/** Drives a week through `store`; the table sizes at the end of each day. */
async function simulateWeek(store: Store, clock: { now: number }, countRows: () => Promise<Sizes>) {
  mock.timers.enable({ apis: ['setTimeout'], now: clock.now });
  const runs: PurgeCounts[] = [];
  let ran = (_error?: unknown) => {};
  const stop = startHousekeeping(store, {
    intervalMs: INTERVAL,
    keep: { renewableMs: RENEWABLE, signInFailuresMs: DAY },
    purged: (counts) => {
      runs.push(counts);
      ran();
    },
    failed: (error) => ran(error),
    random: () => 0.5,
  });
  const daily: Sizes[] = [];
  try {
    for (let minute = 0; minute < 7 * 24 * 60; minute += INTERVAL / 60_000) {
      // An interval of traffic: sign-ins (each a login state, an SSO hand-off code, a session),
      // abandoned sign-ins (a login state never used), failures, and some sign-outs.
      for (let i = 0; i < (SIGN_INS_PER_HOUR * INTERVAL) / HOUR; i++) {
        const { account } = await store.resolveIdentity('idp', `user-${minute}-${i}`);
        const state = await store.issueCode('login-state', { n: i }, 10 * 60_000);
        await store.consumeCode('login-state', state);
        await store.issueCode('handoff', { n: i }, 60_000);
        const { secret } = await store.createSession({ accountId: account.id, lifetimeMs: SESSION_LIFETIME });
        if (i === 0) await store.revokeSession(secret);
        await store.issueCode('login-state', { abandoned: true }, 10 * 60_000);
        await store.recordSignInFailure(`address-${minute}`);
      }
      const before = runs.length;
      const purged = new Promise<void>((resolve, reject) => {
        ran = (error) => (error ? reject(error) : resolve());
      });
      clock.now += INTERVAL;
      mock.timers.tick(INTERVAL);
      // A run deletes something every interval from the first hours on: wait for it.
      if (minute >= 60) await purged;
      assert.ok(minute < 60 || runs.length === before + 1);
      if ((minute + INTERVAL / 60_000) % (24 * 60) === 0) daily.push(await countRows());
    }
  } finally {
    stop();
    mock.timers.reset();
  }
  return { daily, runs };
}

function assertBounded(daily: Sizes[], diagnostic: (message: string) => void) {
  diagnostic(
    `rows at the end of each day: ${daily.map((d) => `${d.sessions}/${d.codes}/${d.failures}${d.bytes ? ` ${(d.bytes / 1024).toFixed(0)} KiB` : ''}`).join(', ')} (sessions/codes/failures)`,
  );
  const signedIn = 7 * 24 * SIGN_INS_PER_HOUR;
  const live = ((SESSION_LIFETIME + RENEWABLE) / HOUR) * SIGN_INS_PER_HOUR;
  const last = daily.at(-1)!;
  // Sessions: those live or still renewable (80 h of sign-ins, less the signed-out ones), not a week's.
  assert.ok(
    last.sessions <= live && last.sessions < signedIn / 2,
    `${last.sessions} sessions kept of ${signedIn} made`,
  );
  // Codes and login states last minutes; failures a day.
  assert.ok(last.codes <= (3 * SIGN_INS_PER_HOUR * INTERVAL) / HOUR, `${last.codes} codes`);
  assert.ok(last.failures <= DAY / INTERVAL + 1, `${last.failures} failure records`);
  // Steady from day 4 on (sessions stop accumulating once the first ones are past their grace).
  assert.ok(Math.abs(last.sessions - daily[3]!.sessions) <= SIGN_INS_PER_HOUR, 'sessions steady from day 4');
  if (last.bytes)
    assert.ok(
      last.bytes <= daily[3]!.bytes! * 1.25,
      `the file stops growing: ${daily[3]!.bytes} -> ${last.bytes} bytes`,
    );
}

const count = async (query: (sql: string) => Promise<number>): Promise<Sizes> => ({
  sessions: await query('SELECT COUNT(*) AS n FROM sessions'),
  codes: await query('SELECT COUNT(*) AS n FROM one_time_codes'),
  failures: await query('SELECT COUNT(*) AS n FROM sign_in_failures'),
});

describe('housekeeping over a simulated week', () => {
  test('SQLite: the store and its file stay the size of what is live', async (t) => {
    const { dir, remove } = await tempDir();
    after(remove);
    const clock = { now: Date.UTC(2026, 0, 5) };
    const file = join(dir, 'signonce.db');
    const store = await openStore(`sqlite:${file}`, { keyring: new Keyring([generateKey()]), now: () => clock.now });
    const { DatabaseSync } = await import('node:sqlite');
    const raw = new DatabaseSync(file, { readOnly: true });
    try {
      const { daily } = await simulateWeek(store, clock, async () => ({
        ...(await count(async (sql) => Number((raw.prepare(sql).get() as { n: number }).n))),
        // The main file and its write-ahead log, as a disk sees them.
        bytes: statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0),
      }));
      assertBounded(daily, (message) => t.diagnostic(message));
    } finally {
      raw.close();
      await store.close();
    }
  });

  test('PostgreSQL: the same', { skip: postgresSkipReason }, async (t) => {
    const sql = admin();
    const { schema, url } = await createSchema(sql);
    after(async () => {
      await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await sql.end();
    });
    const clock = { now: Date.UTC(2026, 0, 5) };
    const store = await openStore(url, { keyring: new Keyring([generateKey()]), now: () => clock.now });
    try {
      const { daily } = await simulateWeek(store, clock, () =>
        count(async (query) => Number((await sql.unsafe(query.replace(/FROM (\w+)/, `FROM ${schema}.$1`)))[0]!.n)),
      );
      assertBounded(daily, (message) => t.diagnostic(message));
    } finally {
      await store.close();
    }
  });
});
