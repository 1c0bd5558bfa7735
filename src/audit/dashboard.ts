// The admin console's dashboard figures (issue 21), from the audit log's counts: sign-ins per hour
// over the last 24 hours and per day over the last 7, failures and refusals by reason, refresh
// failures by provider. One query (`dashboardQuery`, counted in the database by Store.auditCounts)
// and a pure function of its rows (`dashboardFigures`), so the figures are tested without a store.
// Days are UTC days: every instance and every admin sees the same bars.
import type { AuditCount, AuditCountsQuery } from '../store/index.ts';
import type { AuditKind } from './audit-log.ts';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
const HOURS = 24;
const DAYS = 7;

/** One bar of a series over time: the bucket's start (ms since the epoch) and its count. */
export interface TimeBar {
  readonly start: number;
  readonly count: number;
}

/** One bar of a breakdown: what it counts (a reason, a provider) and how many. */
export interface LabelledCount {
  readonly label: string;
  readonly count: number;
}

export interface DashboardFigures {
  /** The range counted: from the start of the first day to the end of the current hour. */
  readonly since: number;
  readonly until: number;
  /** Successful sign-ins in each of the last 24 hours, oldest first; the last is the current hour. Zero-filled. */
  readonly signInsPerHour: readonly TimeBar[];
  /** Successful sign-ins on each of the last 7 UTC days, oldest first; the last is today. Zero-filled. */
  readonly signInsPerDay: readonly TimeBar[];
  /** Failed, throttled and refused sign-ins over the range, by reason; most first. */
  readonly failuresByReason: readonly LabelledCount[];
  /** Access refusals over the range, by reason; most first. */
  readonly refusalsByReason: readonly LabelledCount[];
  /** Refresh failures over the range, by provider; most first. */
  readonly refreshFailuresByProvider: readonly LabelledCount[];
}

const FAILED_SIGN_IN = new Set(['failed', 'throttled', 'refused']);
/** How a breakdown names events whose detail has no reason or provider (README, "Audit log"). */
export const NO_REASON = 'no reason recorded';
export const NO_PROVIDER = 'no provider recorded';
const DASHBOARD_KINDS: readonly AuditKind[] = ['sign-in', 'access-refused', 'refresh-failed'];

const startOf = (time: number, size: number) => Math.floor(time / size) * size;

/** What to ask Store.auditCounts for the dashboard at `now`: hourly buckets over the last 7 days. */
export function dashboardQuery(now: number): AuditCountsQuery {
  return {
    since: startOf(now, DAY_MS) - (DAYS - 1) * DAY_MS,
    until: startOf(now, HOUR_MS) + HOUR_MS,
    bucketMs: HOUR_MS,
    kinds: DASHBOARD_KINDS,
  };
}

/** The dashboard's series from the rows of `dashboardQuery(now)`; rows outside its range are ignored. */
export function dashboardFigures(rows: readonly AuditCount[], now: number): DashboardFigures {
  const { since, until } = dashboardQuery(now);
  const inRange = rows.filter((row) => row.bucket >= since && row.bucket < until && row.count > 0);
  const signIns = inRange.filter((row) => row.kind === 'sign-in' && row.outcome === 'success');
  const series = (count: number, size: number, last: number): TimeBar[] =>
    Array.from({ length: count }, (_, i) => {
      const start = last - (count - 1 - i) * size;
      const inBar = signIns.filter((row) => row.bucket >= start && row.bucket < start + size);
      return { start, count: inBar.reduce((sum, row) => sum + row.count, 0) };
    });
  return {
    since,
    until,
    signInsPerHour: series(HOURS, HOUR_MS, startOf(now, HOUR_MS)),
    signInsPerDay: series(DAYS, DAY_MS, startOf(now, DAY_MS)),
    failuresByReason: breakdown(
      inRange.filter((row) => row.kind === 'sign-in' && FAILED_SIGN_IN.has(row.outcome ?? '')),
      (row) => row.reason ?? NO_REASON,
    ),
    refusalsByReason: breakdown(
      inRange.filter((row) => row.kind === 'access-refused'),
      (row) => row.reason ?? NO_REASON,
    ),
    refreshFailuresByProvider: breakdown(
      inRange.filter((row) => row.kind === 'refresh-failed'),
      (row) => row.provider ?? NO_PROVIDER,
    ),
  };
}

/** Counts summed per label, most first, then by label (a stable order for equal counts). */
function breakdown(rows: readonly AuditCount[], labelOf: (row: AuditCount) => string): LabelledCount[] {
  const totals = new Map<string, number>();
  for (const row of rows) totals.set(labelOf(row), (totals.get(labelOf(row)) ?? 0) + row.count);
  return [...totals]
    .map(([label, count]) => ({ label, count }))
    .sort((a, b) => b.count - a.count || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
}
