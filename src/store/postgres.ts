// PostgreSQL through the `postgres` client: a connection pool shared by every request, the store
// for clusters of SignOnce instances.
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import type { BroadcastHandlers, Row, SqlDriver, SqlExecutor, SqlValue } from './driver.ts';
import { StoreUnavailableError } from './types.ts';

const POOL_SIZE = 10;
// Locked transactions hold their connection while a provider answers (up to its timeout): they get
// connections of their own, so a burst of refreshes never starves the requests' queries.
const LOCK_POOL_SIZE = 20;
// Any constant shared by every SignOnce: the key of the advisory lock that serialises migrations.
const MIGRATION_LOCK = 0x5167_0e7c;
const LOCK_WAIT_SECONDS = 30;
// The listening connection is checked this often: a connection that died without closing (a
// network partition) is noticed within it, and reopened.
const HEARTBEAT_MS = 5_000;
const RECONNECT_MAX_WAIT_MS = 2_000;

// Errors that mean the database cannot be reached, not that a statement was wrong: node's socket
// errors, the client's own, and SQLSTATE classes 08 (connection exception) and 57P (operator
// intervention: shutdown, restart) and 53300 (too many connections).
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', '53300',
]);

/** Whether `error` says PostgreSQL is unreachable (so the request may succeed later), not that a statement failed. */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('08') || code.startsWith('57P'));
}

/** The LISTEN/NOTIFY channel of the store in `schema` (an identifier of at most 63 bytes). */
export function changeChannel(schema: string): string {
  return `signonce_${createHash('sha256').update(schema).digest('hex').slice(0, 16)}`;
}

/** Rethrows an unreachable database as StoreUnavailableError (503), anything else as it is. */
async function reachable<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (isUnreachable(error)) {
      throw new StoreUnavailableError(`the postgres store is unreachable (${(error as { code: string }).code})`, { cause: error });
    }
    throw error;
  }
}

/** Rewrites the shared `?` placeholders to PostgreSQL's `$n`. Statements are ours: no `?` in literals. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function executor(sql: postgres.Sql | postgres.TransactionSql, text: (s: string) => string): SqlExecutor {
  return {
    all: async <T extends Row>(statement: string, params: readonly SqlValue[] = []) =>
      [...await reachable(sql.unsafe(text(statement), params as SqlValue[], { prepare: true }))] as unknown as T[],
    run: async (statement: string, params: readonly SqlValue[] = []) =>
      (await reachable(sql.unsafe(text(statement), params as SqlValue[], { prepare: true }))).count,
  };
}

/**
 * LISTEN on a connection of its own, kept open: when it is lost (closed, or silent for a
 * heartbeat), the handlers hear `deaf`, and `hearing` once a new connection listens again.
 */
class ChannelListener {
  readonly #open: () => postgres.Sql;
  readonly #channel: string;
  readonly #onMessage: (payload: string) => void;
  readonly #handlers: BroadcastHandlers;
  #sql: postgres.Sql | undefined;
  #closed = false;
  readonly #heartbeat: NodeJS.Timeout;

  constructor(open: (hooks: { onnotify: (channel: string, payload: string) => void; onclose: () => void }) => postgres.Sql,
    channel: string, onMessage: (payload: string) => void, handlers: BroadcastHandlers) {
    this.#channel = channel;
    this.#onMessage = onMessage;
    this.#handlers = handlers;
    this.#open = () => {
      const sql: postgres.Sql = open({
        onnotify: (from, payload) => { if (from === channel) this.#onMessage(payload); },
        onclose: () => this.#lost(sql),
      });
      return sql;
    };
    this.#heartbeat = setInterval(() => {
      const sql = this.#sql;
      if (!sql) return;
      const silent = sleep(HEARTBEAT_MS / 2, undefined, { ref: false }).then(() => { throw new Error('no answer'); });
      Promise.race([sql`SELECT 1`, silent]).catch(() => this.#lost(sql));
    }, HEARTBEAT_MS).unref();
  }

  /** Listens; rejects when the first connection fails (the store cannot be opened then). */
  async start(): Promise<void> {
    this.#sql = await this.#listen();
  }

  async #listen(): Promise<postgres.Sql> {
    const sql = this.#open();
    try {
      await sql.unsafe(`LISTEN "${this.#channel}"`);
      return sql;
    } catch (error) {
      await sql.end({ timeout: 0 });
      throw error;
    }
  }

  #lost(sql: postgres.Sql): void {
    if (sql !== this.#sql || this.#closed) return;
    this.#sql = undefined;
    void sql.end({ timeout: 0 });
    this.#handlers.deaf();
    void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    for (let wait = 100; !this.#closed; wait = Math.min(wait * 2, RECONNECT_MAX_WAIT_MS)) {
      try {
        const sql = await this.#listen();
        if (this.#closed) return void await sql.end({ timeout: 0 });
        this.#sql = sql;
        this.#handlers.hearing();
        return;
      } catch {
        await sleep(wait);
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    await this.#sql?.end({ timeout: 1 });
  }
}

export class PostgresDriver implements SqlDriver {
  readonly kind = 'postgres';
  readonly #url: string;
  readonly #sql: postgres.Sql;
  readonly #lockSql: postgres.Sql;
  readonly #numbered = new Map<string, string>();
  readonly #pool: SqlExecutor;
  // Broadcasts carry it, so this process skips its own.
  readonly #sender = randomUUID();
  #channel: Promise<string> | undefined;
  #listener: ChannelListener | undefined;

  constructor(url: string) {
    this.#url = url;
    this.#sql = postgres(url, { ...PostgresDriver.#options, max: POOL_SIZE });
    // Connections are opened on first use: an instance that never refreshes opens none.
    this.#lockSql = postgres(url, { ...PostgresDriver.#options, max: LOCK_POOL_SIZE });
    this.#pool = executor(this.#sql, this.#text);
  }

  static readonly #options = {
    onnotice: () => undefined,
    connect_timeout: 10,
    // BIGINT columns hold milliseconds, well inside Number's exact range.
    types: { bigint: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) } },
  };

  /**
   * The notification channel of this store: NOTIFY reaches the whole database, so the schema is
   * part of the name (two SignOnce deployments in two schemas of one database do not hear each other).
   */
  #channelName(): Promise<string> {
    this.#channel ??= this.#pool.all<{ schema: string }>('SELECT current_schema() AS schema').then(([row]) => changeChannel(row!.schema));
    return this.#channel;
  }

  async broadcast(message: string): Promise<void> {
    await this.#pool.all('SELECT pg_notify(?, ?)', [await this.#channelName(), `${this.#sender} ${message}`]);
  }

  async receive(handlers: BroadcastHandlers): Promise<void> {
    const channel = await this.#channelName();
    const prefix = `${this.#sender} `;
    this.#listener = new ChannelListener(
      (hooks) => postgres(this.#url, { ...PostgresDriver.#options, ...hooks, max: 1, connect_timeout: 2, idle_timeout: 0, max_lifetime: null }),
      channel,
      (payload) => {
        const space = payload.indexOf(' ');
        if (space > 0 && !payload.startsWith(prefix)) handlers.message(payload.slice(space + 1));
      },
      handlers);
    await reachable(this.#listener.start());
  }

  readonly #text = (statement: string): string => {
    let text = this.#numbered.get(statement);
    if (text === undefined) {
      text = numbered(statement);
      this.#numbered.set(statement, text);
    }
    return text;
  };

  all<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.#pool.all<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.#pool.run(sql, params);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return (await reachable(this.#sql.begin((tx) => fn(executor(tx, this.#text))))) as T;
  }

  exclusiveTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.transaction(async (tx) => {
      await tx.all('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK]);
      return fn(tx);
    });
  }

  /**
   * A transaction-scoped advisory lock (held until commit or rollback; released by the server at
   * once when the connection dies): exclusive across every instance on this database.
   */
  async locked<T>(key: string, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return (await reachable(this.#lockSql.begin(async (raw) => {
      const tx = executor(raw, this.#text);
      // Waiting is bounded: a holder stuck longer than this fails the waiters instead of hanging them.
      await tx.run(`SET LOCAL lock_timeout = '${LOCK_WAIT_SECONDS}s'`);
      await tx.all('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [key]);
      return fn(tx);
    }))) as T;
  }

  async close(): Promise<void> {
    await this.#listener?.close();
    await Promise.all([this.#sql.end({ timeout: 5 }), this.#lockSql.end({ timeout: 5 })]);
  }
}
