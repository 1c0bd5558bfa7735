// The dashboard's figures (src/audit/dashboard.ts) as tables of count rows, as Store.auditCounts
// answers them: zero-filled hours and UTC days ending now, breakdowns most first, rows outside the
// range or of other kinds and outcomes left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DAY_MS,
  HOUR_MS,
  NO_PROVIDER,
  NO_REASON,
  dashboardFigures,
  dashboardQuery,
  type DashboardFigures,
} from '../../src/audit/dashboard.ts';
import { join } from 'node:path';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { openStore, type AuditCount } from '../../src/store/index.ts';
import { tempDir } from '../support/tmp.ts';

// 14:25 UTC: the current hour starts at 14:00, today at 00:00.
const NOW = Date.parse('2026-12-06T14:25:00Z');
const HOUR = Date.parse('2026-12-06T14:00:00Z');
const TODAY = Date.parse('2026-12-06T00:00:00Z');

const row = (bucket: number, kind: string, count: number, more: Partial<AuditCount> = {}): AuditCount => ({
  bucket,
  kind,
  count,
  ...more,
});
const signIns = (bucket: number, count: number, provider = 'google') =>
  row(bucket, 'sign-in', count, { outcome: 'success', provider });

test('dashboardQuery: hourly buckets from the first of 7 UTC days to the end of the current hour, three kinds', () => {
  assert.deepEqual(dashboardQuery(NOW), {
    since: TODAY - 6 * DAY_MS,
    until: HOUR + HOUR_MS,
    bucketMs: HOUR_MS,
    kinds: ['sign-in', 'access-refused', 'refresh-failed'],
  });
  assert.equal(dashboardQuery(TODAY).since, TODAY - 6 * DAY_MS, 'at midnight, today is the 7th day');
  assert.equal(dashboardQuery(TODAY).until, TODAY + HOUR_MS);
});

test('sign-ins: 24 hours and 7 days, oldest first, zero-filled, successes only', () => {
  const cases: Array<[name: string, rows: AuditCount[], hours: Record<number, number>, days: Record<number, number>]> =
    [
      ['nothing at all', [], {}, {}],
      ['the current hour', [signIns(HOUR, 3)], { 23: 3 }, { 6: 3 }],
      [
        'two providers in one hour add up',
        [signIns(HOUR, 3), signIns(HOUR, 2, 'gh'), signIns(HOUR, 1, 'local')],
        { 23: 6 },
        { 6: 6 },
      ],
      ['the first of the 24 hours', [signIns(HOUR - 23 * HOUR_MS, 4)], { 0: 4 }, { 5: 4 }],
      ['25 hours ago: in its day, not in the hours', [signIns(HOUR - 24 * HOUR_MS, 5)], {}, { 5: 5 }],
      ['the first day, its first hour', [signIns(TODAY - 6 * DAY_MS, 7)], {}, { 0: 7 }],
      ['before the range: left out', [signIns(TODAY - 6 * DAY_MS - HOUR_MS, 9)], {}, {}],
      ['after the range (a clock ahead): left out', [signIns(HOUR + HOUR_MS, 9)], {}, {}],
      [
        'failures, other kinds and zero counts are no sign-ins',
        [
          row(HOUR, 'sign-in', 5, { outcome: 'failed', reason: 'denied' }),
          row(HOUR, 'sign-in', 5),
          row(HOUR, 'sign-out', 5, { outcome: 'success' }),
          signIns(HOUR, 0),
        ],
        {},
        {},
      ],
      ['one huge value', [signIns(HOUR, 2 ** 40)], { 23: 2 ** 40 }, { 6: 2 ** 40 }],
    ];
  for (const [name, rows, hours, days] of cases) {
    const figures = dashboardFigures(rows, NOW);
    assert.deepEqual(
      figures.signInsPerHour,
      Array.from({ length: 24 }, (_, i) => ({ start: HOUR - (23 - i) * HOUR_MS, count: hours[i] ?? 0 })),
      `${name}: hours`,
    );
    assert.deepEqual(
      figures.signInsPerDay,
      Array.from({ length: 7 }, (_, i) => ({ start: TODAY - (6 - i) * DAY_MS, count: days[i] ?? 0 })),
      `${name}: days`,
    );
  }
});

test('breakdowns: failures and refusals by reason, refresh failures by provider; summed, most first, then by label', () => {
  const failed = (bucket: number, count: number, outcome: string, reason?: string) =>
    row(bucket, 'sign-in', count, { outcome, provider: 'google', ...(reason !== undefined && { reason }) });
  const cases: Array<[name: string, rows: AuditCount[], expected: Partial<DashboardFigures>]> = [
    ['nothing', [], { failuresByReason: [], refusalsByReason: [], refreshFailuresByProvider: [] }],
    [
      'sign-in failures: failed, throttled and refused, summed over hours and providers',
      [
        failed(HOUR, 2, 'failed', 'denied'),
        failed(HOUR - HOUR_MS, 3, 'failed', 'denied'),
        row(HOUR, 'sign-in', 1, { outcome: 'failed', provider: 'gh', reason: 'denied' }),
        failed(HOUR, 4, 'throttled', 'too many failures'),
        failed(TODAY - 6 * DAY_MS, 1, 'refused', 'account disabled'),
        failed(HOUR, 1, 'failed'),
        failed(HOUR, 9, 'success'),
        failed(TODAY - 7 * DAY_MS, 9, 'failed', 'denied'),
      ],
      {
        failuresByReason: [
          { label: 'denied', count: 6 },
          { label: 'too many failures', count: 4 },
          { label: 'account disabled', count: 1 },
          { label: NO_REASON, count: 1 },
        ],
        refusalsByReason: [],
        refreshFailuresByProvider: [],
      },
    ],
    [
      'equal counts: by label',
      [failed(HOUR, 1, 'failed', 'b'), failed(HOUR, 1, 'failed', 'a'), failed(HOUR, 1, 'failed', 'B')],
      {
        failuresByReason: [
          { label: 'B', count: 1 },
          { label: 'a', count: 1 },
          { label: 'b', count: 1 },
        ],
      },
    ],
    [
      'access refusals by reason; hostile reasons are labels like any other',
      [
        row(HOUR, 'access-refused', 3, { outcome: 'refused', reason: 'access[0] refuses this user' }),
        row(HOUR, 'access-refused', 1, { outcome: 'refused', reason: '<script>alert(1)</script>' }),
        row(HOUR, 'access-refused', 2, { outcome: 'refused' }),
      ],
      {
        refusalsByReason: [
          { label: 'access[0] refuses this user', count: 3 },
          { label: NO_REASON, count: 2 },
          { label: '<script>alert(1)</script>', count: 1 },
        ],
      },
    ],
    [
      'refresh failures by provider, whatever the outcome and reason',
      [
        row(HOUR, 'refresh-failed', 2, { outcome: 'refused', provider: 'aad', reason: 'invalid_grant' }),
        row(HOUR, 'refresh-failed', 3, { outcome: 'unreachable', provider: 'aad' }),
        row(HOUR, 'refresh-failed', 1, { outcome: 'invalid-response', provider: 'gh' }),
        row(HOUR, 'refresh-failed', 1, { outcome: 'unreachable' }),
      ],
      {
        refreshFailuresByProvider: [
          { label: 'aad', count: 5 },
          { label: 'gh', count: 1 },
          { label: NO_PROVIDER, count: 1 },
        ],
      },
    ],
    [
      '100 reasons: every one kept (the chart caps what it draws)',
      Array.from({ length: 100 }, (_, i) => failed(HOUR, 100 - i, 'failed', `reason ${String(i).padStart(3, '0')}`)),
      {
        failuresByReason: Array.from({ length: 100 }, (_, i) => ({
          label: `reason ${String(i).padStart(3, '0')}`,
          count: 100 - i,
        })),
      },
    ],
  ];
  for (const [name, rows, expected] of cases) {
    const figures = dashboardFigures(rows, NOW);
    for (const [key, value] of Object.entries(expected))
      assert.deepEqual(figures[key as keyof DashboardFigures], value, `${name}: ${key}`);
  }
});

test('on a real SQLite store: the events appended are the figures drawn', async () => {
  const { dir, remove } = await tempDir();
  let clock = NOW;
  const store = await openStore(`sqlite:${join(dir, 'dashboard.db')}`, {
    keyring: new Keyring([generateKey()]),
    now: () => clock,
  });
  try {
    const append = async (at: number, event: Parameters<typeof store.appendAudit>[0]) => {
      clock = at;
      await store.appendAudit(event);
    };
    await append(HOUR + 1, { kind: 'sign-in', outcome: 'success', detail: { provider: 'google', method: 'provider' } });
    await append(HOUR - 2 * DAY_MS, { kind: 'sign-in', outcome: 'success', detail: { provider: 'gh' } });
    await append(HOUR, { kind: 'sign-in', outcome: 'failed', detail: { provider: 'gh', reason: 'denied' } });
    await append(HOUR, { kind: 'access-refused', outcome: 'refused', detail: { rule: 'access[0]', reason: 'no' } });
    await append(HOUR, { kind: 'refresh-failed', outcome: 'unreachable', detail: { provider: 'aad' } });
    await append(HOUR, { kind: 'sign-out', outcome: 'success' });
    clock = NOW;
    const figures = dashboardFigures(await store.auditCounts(dashboardQuery(NOW)), NOW);
    assert.deepEqual(
      figures.signInsPerHour.map((bar) => bar.count),
      [...Array(23).fill(0), 1],
    );
    assert.deepEqual(
      figures.signInsPerDay.map((bar) => bar.count),
      [0, 0, 0, 0, 1, 0, 1],
    );
    assert.deepEqual(figures.failuresByReason, [{ label: 'denied', count: 1 }]);
    assert.deepEqual(figures.refusalsByReason, [{ label: 'no', count: 1 }]);
    assert.deepEqual(figures.refreshFailuresByProvider, [{ label: 'aad', count: 1 }]);
  } finally {
    await store.close();
    await remove();
  }
});
