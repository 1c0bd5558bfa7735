// AuditLog on a real SQLite store: an event is appended as given; repeated events are kept once a
// window per key; a store that fails never fails the action recorded (logged, without detail).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AuditLog, REPEATED_EVENT_WINDOW_MS } from '../../src/audit/audit-log.ts';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { tempDir } from '../support/tmp.ts';

let store: Store;
let remove: () => Promise<void>;
let clock = Date.parse('2026-12-06T08:00:00Z');
const errors: Array<[object, string]> = [];
const log = { error: (details: object, message: string) => void errors.push([details, message]) };

before(async () => {
  const dir = await tempDir();
  remove = dir.remove;
  store = await openStore(`sqlite:${join(dir.dir, 'audit.db')}`, { keyring: new Keyring([generateKey()]) });
});
after(async () => {
  await store.close();
  await remove();
});

test('record appends the event with every field, and resolves with it', async () => {
  const audit = new AuditLog(store, log);
  const event = await audit.record({
    kind: 'sign-out',
    outcome: 'success',
    accountId: 'acct-1',
    actor: 'acct-1',
    app: 'wiki',
    address: '192.0.2.7',
    userAgent: 'Browser/1',
    requestId: 'req-1',
    detail: { provider: 'idp' },
  });
  assert.ok(event);
  assert.deepEqual((await store.listAudit({ limit: 10, accountId: 'acct-1' }))[0], event);
});

test('recordRepeated: once per key and window on this instance; other keys and a later window are kept', async () => {
  const audit = new AuditLog(store, log, () => clock);
  const refused = (account: string) => ({ kind: 'access-refused' as const, accountId: account, app: 'wiki' });
  for (let i = 0; i < 5; i++) audit.recordRepeated('k-ann', refused('ann'));
  audit.recordRepeated('k-bob', refused('bob'));
  clock += REPEATED_EVENT_WINDOW_MS - 1;
  audit.recordRepeated('k-ann', refused('ann'));
  clock += 1;
  audit.recordRepeated('k-ann', refused('ann'));
  await audit.settled();
  const kept = await store.listAudit({ limit: 100, kinds: ['access-refused'] });
  assert.deepEqual(kept.map((e) => e.accountId).sort(), ['ann', 'ann', 'bob']);
});

test('recordRepeated past 10,000 keys forgets the oldest, keeps the newest: a flood of distinct keys is bounded', async () => {
  let appended = 0;
  const counting = new AuditLog(
    {
      appendAudit: async () => {
        appended++;
        return { id: appended, at: clock, kind: 'access-refused' };
      },
    },
    log,
    () => clock,
  );
  for (let i = 0; i < 25_000; i++) counting.recordRepeated(`flood-${i}`, { kind: 'access-refused' });
  counting.recordRepeated('flood-24999', { kind: 'access-refused' });
  assert.equal(appended, 25_000, 'the newest key is remembered: not appended again');
  counting.recordRepeated('flood-0', { kind: 'access-refused' });
  assert.equal(appended, 25_001, 'the oldest was forgotten: appended again');
  await counting.settled();
});

test('a store that cannot append: record resolves undefined, the failure is logged without the detail', async () => {
  const failing = new AuditLog(
    {
      appendAudit: async () => {
        throw new Error('connect ECONNREFUSED');
      },
    },
    log,
  );
  errors.length = 0;
  assert.equal(await failing.record({ kind: 'sign-in', accountId: 'acct-9', detail: { provider: 'idp' } }), undefined);
  assert.equal(errors.length, 1);
  assert.match(errors[0]![1], /could not record an audit event: the action stands/);
  assert.deepEqual(
    Object.keys(errors[0]![0]).sort(),
    ['account', 'audit', 'err'],
    'the kind and account, never the detail',
  );
});
