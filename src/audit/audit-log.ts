// The audit log as its writers see it (README, "Audit log"): what happened, to whom, by whom,
// appended to the store (Store.appendAudit). Recording never fails what it records: a store that
// cannot take the event is logged (without the event's detail) and the action stands, as a
// sign-in that succeeded has succeeded. Events never hold a secret: writers pass names, ids and
// reasons, never tokens, passwords or session ids.
import type { AuditEvent, NewAuditEvent, Store } from '../store/index.ts';

/** The kinds SignOnce records (README lists them with their outcomes and details). */
export const AUDIT_KINDS = [
  'sign-in',
  'sign-out',
  'link',
  'unlink',
  'access-refused',
  'refresh-failed',
  'key-rotated',
  'account-disabled',
  'account-enabled',
  'account-deleted',
  'user-created',
  'password-changed',
  'group-added',
  'group-removed',
  'sessions-ended',
  'tokens-revoked',
  'grant-revoked',
  'second-factor-added',
  'second-factor-removed',
] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

export interface AuditRecord extends NewAuditEvent {
  readonly kind: AuditKind;
}

/** Where an event came from: the request's client, as far as SignOnce knows it. */
export interface AuditOrigin {
  readonly address?: string | undefined;
  readonly userAgent?: string | undefined;
  readonly requestId?: string | undefined;
}

/**
 * Events that repeat as fast as a client can send requests (an access refusal per request, a
 * failing refresh per request) are kept once per key and window on each instance: the log shows
 * that it happened and to whom, and a client cannot fill the store through it.
 */
export const REPEATED_EVENT_WINDOW_MS = 60_000;

export class AuditLog {
  readonly #store: Pick<Store, 'appendAudit'>;
  readonly #log: { error(details: object, message: string): void };
  readonly #now: () => number;
  readonly #lastOf = new Map<string, number>();
  readonly #pending = new Set<Promise<unknown>>();

  constructor(
    store: Pick<Store, 'appendAudit'>,
    log: { error(details: object, message: string): void },
    now: () => number = () => Date.now(),
  ) {
    this.#store = store;
    this.#log = log;
    this.#now = now;
  }

  /** Appends `event`; resolves once it is stored (or its failure logged). Never rejects. */
  record(event: AuditRecord): Promise<AuditEvent | undefined> {
    const appended = this.#store.appendAudit(event).catch((error: unknown) => {
      this.#log.error(
        { err: error, audit: event.kind, account: event.accountId },
        'could not record an audit event: the action stands, its audit entry is missing',
      );
      return undefined;
    });
    this.#pending.add(appended);
    return appended.finally(() => this.#pending.delete(appended));
  }

  /**
   * Appends `event` unless an event of the same `key` was appended on this instance within
   * REPEATED_EVENT_WINDOW_MS; does not wait for the store (the request that caused it goes on).
   */
  recordRepeated(key: string, event: AuditRecord): void {
    const now = this.#now();
    const last = this.#lastOf.get(key);
    if (last !== undefined && now - last < REPEATED_EVENT_WINDOW_MS) return;
    if (this.#lastOf.size >= MAX_REPEATED_KEYS) this.#forgetOlderThan(now - REPEATED_EVENT_WINDOW_MS);
    this.#lastOf.set(key, now);
    void this.record(event);
  }

  /** Waits for every event still being appended (a server closing). */
  async settled(): Promise<void> {
    await Promise.all(this.#pending);
  }

  #forgetOlderThan(time: number): void {
    for (const [key, at] of this.#lastOf) if (at < time) this.#lastOf.delete(key);
    // Every key is recent: a flood of distinct keys; the oldest go (Maps iterate in insertion order).
    for (const key of this.#lastOf.keys()) {
      if (this.#lastOf.size < MAX_REPEATED_KEYS) break;
      this.#lastOf.delete(key);
    }
  }
}

/** Keys remembered by recordRepeated: bounded, so distinct keys cannot grow memory without end. */
const MAX_REPEATED_KEYS = 10_000;
