// PostgreSQL through `pg` (node-postgres): a connection pool shared by every request, the store for
// clusters of SignOnce instances. (The `postgres` client was used before; its version 3.4.9 can
// throw an uncatchable TypeError when the server drops a connection mid-write, porsager/postgres
// issues 1154 and 1208, which would end the process exactly when it must stay up: a database outage.)
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import {
  sqlName,
  type BroadcastHandlers,
  type Row,
  type SqlDriver,
  type SqlExecutor,
  type SqlValue,
} from './driver.ts';
import { StoreUnavailableError } from './types.ts';

const POOL_SIZE = 10;
// Locked transactions hold their connection while a provider answers (up to its timeout): they get
// connections of their own, so a burst of refreshes never starves the requests' queries.
const LOCK_POOL_SIZE = 20;
const CONNECT_TIMEOUT_MS = 10_000;
// Any constant shared by every SignOnce: the key of the advisory lock that serialises migrations.
const MIGRATION_LOCK = 0x5167_0e7c;
const LOCK_WAIT_SECONDS = 30;
// The listening connection is checked this often: a connection that died without closing (a
// network partition) is noticed within it, and reopened.
const HEARTBEAT_MS = 5_000;
const RECONNECT_MAX_WAIT_MS = 2_000;
const BIGINT_OID = 20;

// Errors that mean the database cannot be reached, not that a statement was wrong: node's socket
// errors, SQLSTATE classes 08 (connection exception) and 57P (operator intervention: shutdown,
// restart) and 53300 (too many connections), and those `pg` raises without a code.
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '53300',
]);
const UNREACHABLE_MESSAGES =
  /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Client was closed)/;

/** Whether `error` says PostgreSQL is unreachable (so the request may succeed later), not that a statement failed. */
export function isUnreachable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') return UNREACHABLE_CODES.has(code) || code.startsWith('08') || code.startsWith('57P');
  return typeof message === 'string' && UNREACHABLE_MESSAGES.test(message);
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
      const reason = (error as { code?: string }).code ?? (error as Error).message;
      throw new StoreUnavailableError(`the postgres store is unreachable (${reason})`, { cause: error });
    }
    throw error;
  }
}

/**
 * The client settings of a store URL. `?search_path=` (a schema list) becomes a setting of every
 * connection; the rest of the URL is read by `pg` (host, port, user, password, database, sslmode).
 */
function clientConfig(url: string): pg.ClientConfig {
  const parsed = new URL(url);
  const searchPath = parsed.searchParams.get('search_path');
  parsed.searchParams.delete('search_path');
  return {
    connectionString: parsed.toString(),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    // BIGINT columns hold milliseconds (and counts), well inside Number's exact range.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === BIGINT_OID ? Number : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
    },
    ...(searchPath ? { options: `-c search_path=${searchPath.replace(/[\\ ]/g, '\\$&')}` } : {}),
  };
}

/** Rewrites the shared `?` placeholders to PostgreSQL's `$n`. Statements are ours: no `?` in literals. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** A statement as `pg` runs it: numbered placeholders, prepared once per connection under a name. */
class Statements {
  readonly #known = new Map<string, { name: string; text: string }>();

  of(sql: string, values: readonly SqlValue[]): pg.QueryConfig {
    let statement = this.#known.get(sql);
    if (!statement) {
      statement = { name: `s${this.#known.size}`, text: numbered(sql) };
      this.#known.set(sql, statement);
    }
    return { ...statement, values: values as SqlValue[] };
  }
}

function executor(client: pg.Pool | pg.PoolClient, statements: Statements): SqlExecutor {
  return {
    all: async <T extends Row>(sql: string, params: readonly SqlValue[] = []) =>
      (await reachable(client.query(statements.of(sql, params)))).rows as T[],
    run: async (sql: string, params: readonly SqlValue[] = []) =>
      (await reachable(client.query(statements.of(sql, params)))).rowCount ?? 0,
  };
}

/**
 * Runs `fn` in a transaction on a connection of `pool`. A connection that fails meanwhile is
 * discarded, not returned to the pool; its error event is taken here (unheard, it would end the process).
 */
async function inTransaction<T>(
  pool: pg.Pool,
  statements: Statements,
  fn: (tx: SqlExecutor) => Promise<T>,
): Promise<T> {
  const client = await reachable(pool.connect());
  let failed: Error | undefined;
  const onError = (error: Error) => {
    failed = error;
  };
  client.on('error', onError);
  const tx = executor(client, statements);
  try {
    await tx.run('BEGIN');
    const result = await fn(tx);
    await tx.run('COMMIT');
    return result;
  } catch (error) {
    await tx.run('ROLLBACK').catch((rollbackFailed: Error) => {
      failed ??= rollbackFailed;
    });
    throw error;
  } finally {
    client.off('error', onError);
    client.release(failed);
  }
}

/**
 * LISTEN on a connection of its own, kept open: when it is lost (closed, or silent for a
 * heartbeat), the handlers hear `deaf`, and `hearing` once a new connection listens again. The
 * heartbeat repeats the LISTEN (a no-op for a channel already listened to), so the connection's
 * last statement in pg_stat_activity always names its channel.
 */
class ChannelListener {
  readonly #config: pg.ClientConfig;
  readonly #channel: string;
  readonly #listenStatement: string;
  readonly #onMessage: (payload: string) => void;
  readonly #handlers: BroadcastHandlers;
  #client: pg.Client | undefined;
  #closed = false;
  readonly #heartbeat: NodeJS.Timeout;

  constructor(
    config: pg.ClientConfig,
    channel: string,
    onMessage: (payload: string) => void,
    handlers: BroadcastHandlers,
  ) {
    this.#config = { ...config, connectionTimeoutMillis: 2_000 };
    this.#channel = channel;
    this.#listenStatement = `LISTEN "${channel}"`;
    this.#onMessage = onMessage;
    this.#handlers = handlers;
    this.#heartbeat = setInterval(() => {
      const client = this.#client;
      if (!client) return;
      const silent = sleep(HEARTBEAT_MS / 2, undefined, { ref: false }).then(() => {
        throw new Error('no answer');
      });
      Promise.race([client.query(this.#listenStatement), silent]).catch(() => this.#lost(client));
    }, HEARTBEAT_MS).unref();
  }

  /** Listens; rejects when the first connection fails (the store cannot be opened then). */
  async start(): Promise<void> {
    this.#client = await this.#listen();
  }

  async #listen(): Promise<pg.Client> {
    const client = new pg.Client(this.#config);
    client.on('notification', ({ channel, payload }) => {
      if (channel === this.#channel && payload) this.#onMessage(payload);
    });
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    try {
      await client.connect();
      await client.query(this.#listenStatement);
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  #lost(client: pg.Client): void {
    if (client !== this.#client || this.#closed) return;
    this.#client = undefined;
    client.end().catch(() => undefined);
    this.#handlers.deaf();
    void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    for (let wait = 100; !this.#closed; wait = Math.min(wait * 2, RECONNECT_MAX_WAIT_MS)) {
      try {
        const client = await this.#listen();
        if (this.#closed) return void (await client.end());
        this.#client = client;
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
    await this.#client?.end().catch(() => undefined);
  }
}

export class PostgresDriver implements SqlDriver {
  readonly kind = 'postgres';
  readonly #config: pg.ClientConfig;
  readonly #pool: pg.Pool;
  readonly #lockPool: pg.Pool;
  readonly #statements = new Statements();
  readonly #direct: SqlExecutor;
  // Broadcasts carry it, so this process skips its own.
  readonly #sender = randomUUID();
  #channel: Promise<string> | undefined;
  #listener: ChannelListener | undefined;

  constructor(url: string) {
    this.#config = clientConfig(url);
    this.#pool = new pg.Pool({ ...this.#config, max: POOL_SIZE });
    // Connections are opened on first use: an instance that never refreshes opens none.
    this.#lockPool = new pg.Pool({ ...this.#config, max: LOCK_POOL_SIZE });
    // An idle connection the server closed (a restart) is dropped by the pool; the event is only news.
    for (const pool of [this.#pool, this.#lockPool]) pool.on('error', () => undefined);
    this.#direct = executor(this.#pool, this.#statements);
  }

  /**
   * The notification channel of this store: NOTIFY reaches the whole database, so the schema is
   * part of the name (two SignOnce deployments in two schemas of one database do not hear each other).
   */
  #channelName(): Promise<string> {
    this.#channel ??= this.#direct
      .all<{ schema: string }>('SELECT current_schema() AS schema')
      .then(([row]) => changeChannel(row!.schema));
    return this.#channel;
  }

  async broadcast(message: string): Promise<void> {
    await this.#direct.all('SELECT pg_notify(?, ?)', [await this.#channelName(), `${this.#sender} ${message}`]);
  }

  async receive(handlers: BroadcastHandlers): Promise<void> {
    const prefix = `${this.#sender} `;
    this.#listener = new ChannelListener(
      this.#config,
      await this.#channelName(),
      (payload) => {
        const space = payload.indexOf(' ');
        if (space > 0 && !payload.startsWith(prefix)) handlers.message(payload.slice(space + 1));
      },
      handlers,
    );
    await reachable(this.#listener.start());
  }

  // Columns are TEXT (the schema both databases share), read as json here; `->` on a JSON value
  // that is not an object is NULL, not an error.
  jsonText(column: string, key: string): string {
    const value = `(${sqlName(column)}::json -> '${sqlName(key)}')`;
    return `CASE json_typeof${value} WHEN 'string' THEN ${column}::json ->> '${key}' END`;
  }

  all<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.#direct.all<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.#direct.run(sql, params);
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return inTransaction(this.#pool, this.#statements, fn);
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
  locked<T>(key: string, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return inTransaction(this.#lockPool, this.#statements, async (tx) => {
      // Waiting is bounded: a holder stuck longer than this fails the waiters instead of hanging them.
      await tx.run(`SET LOCAL lock_timeout = '${LOCK_WAIT_SECONDS}s'`);
      await tx.all('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [key]);
      return fn(tx);
    });
  }

  async close(): Promise<void> {
    await this.#listener?.close();
    await Promise.all([this.#pool.end(), this.#lockPool.end()]);
  }
}
