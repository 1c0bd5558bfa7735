// `signonce audit`: the audit log, newest first, read from the store (README, "Audit log"). It
// reads only: events are appended by what they record, and deleted only by retention.
import { parseDuration } from '../config/duration.ts';
import type { AuditEvent } from '../store/index.ts';
import { parseCommandLine, usageError, withConfiguredStore } from './usage.ts';

export const usage = [
  'signonce audit [--since 24h|ISO-DATE] [--account ID] [--kind K]... [--limit N] [--json] [--config FILE]',
  '                          the audit log, newest first: events since a time (a duration back from now, or an ISO',
  '                          8601 date), of one account, of some kinds; at most N (default 100, at most 10000); a',
  '                          table, or one JSON object a line with --json',
].join('\n  ');

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;
// An ISO 8601 date, with a time and zone or not (a date alone is midnight UTC, as Date.parse reads it).
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** The time `--since` means (ms), or why it means none: a duration back from `now`, or an ISO 8601 date. */
export function sinceOf(value: string, now: number): number | { problem: string } {
  const back = parseDuration(value);
  if (back !== undefined && !/^\d+$/.test(value)) return now - back;
  const at = ISO_DATE.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isNaN(at)) return at;
  return {
    problem: `--since ${JSON.stringify(value)} is neither a duration (e.g. 30m, 24h, 7d) nor an ISO 8601 date (e.g. 2026-12-01 or 2026-12-01T08:00:00Z)`,
  };
}

/** The number `--limit` means, or why it means none: a whole number from 1 to MAX_LIMIT. */
export function limitOf(value: string): number | { problem: string } {
  const limit = /^\d{1,6}$/.test(value) ? Number(value) : 0;
  if (limit >= 1 && limit <= MAX_LIMIT) return limit;
  return { problem: `--limit ${JSON.stringify(value)} is not a whole number from 1 to ${MAX_LIMIT}` };
}

const COLUMNS: ReadonlyArray<readonly [string, (event: AuditEvent) => string | undefined]> = [
  ['TIME', (e) => new Date(e.at).toISOString()],
  ['KIND', (e) => e.kind],
  ['OUTCOME', (e) => e.outcome],
  ['ACCOUNT', (e) => e.accountId],
  ['ACTOR', (e) => e.actor],
  ['APP', (e) => e.app],
  ['ADDRESS', (e) => e.address],
  ['REQUEST', (e) => e.requestId],
];

/** Events as a table with a header, columns padded to their widest value; `-` for none. */
export function auditTable(events: readonly AuditEvent[]): string {
  // Control characters (a hostile user agent or address could bring some) would garble the terminal.
  const cell = (text: string | undefined) => (text ?? '-').replace(/\p{Cc}/gu, '?');
  const rows = [COLUMNS.map(([title]) => title), ...events.map((e) => COLUMNS.map(([, value]) => cell(value(e))))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => `${row.map((text, i) => text.padEnd(widths[i]!)).join('  ')}`.trimEnd()).join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      since: { type: 'string' },
      account: { type: 'string' },
      kind: { type: 'string', multiple: true },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      config: { type: 'string' },
    },
    usage,
  );
  if (!parsed) return 2;
  if (parsed.positionals.length)
    return usageError(usage, `unexpected argument ${JSON.stringify(parsed.positionals[0])}`);
  const { values } = parsed;
  const since = values.since === undefined ? undefined : sinceOf(values.since, Date.now());
  if (typeof since === 'object') return usageError(usage, since.problem);
  const limit = values.limit === undefined ? DEFAULT_LIMIT : limitOf(values.limit);
  if (typeof limit === 'object') return usageError(usage, limit.problem);
  return withConfiguredStore(values.config, async (_config, store) => {
    const events = await store.listAudit({ since, accountId: values.account, kinds: values.kind, limit });
    if (values.json) {
      for (const event of events) process.stdout.write(`${JSON.stringify(event)}\n`);
    } else if (events.length) {
      process.stdout.write(`${auditTable(events)}\n`);
    } else {
      process.stderr.write('no audit events match\n');
    }
    return 0;
  });
}
