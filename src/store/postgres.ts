// PostgreSQL through the `postgres` client: a connection pool shared by every request, the store
// for clusters of SignOnce instances.
import postgres from 'postgres';
import type { Row, SqlDriver, SqlExecutor, SqlValue } from './driver.ts';

const POOL_SIZE = 10;
// Locked transactions hold their connection while a provider answers (up to its timeout): they get
// connections of their own, so a burst of refreshes never starves the requests' queries.
const LOCK_POOL_SIZE = 20;
// Any constant shared by every SignOnce: the key of the advisory lock that serialises migrations.
const MIGRATION_LOCK = 0x5167_0e7c;
const LOCK_WAIT_SECONDS = 30;

/** Rewrites the shared `?` placeholders to PostgreSQL's `$n`. Statements are ours: no `?` in literals. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function executor(sql: postgres.Sql | postgres.TransactionSql, text: (s: string) => string): SqlExecutor {
  return {
    all: async <T extends Row>(statement: string, params: readonly SqlValue[] = []) =>
      [...await sql.unsafe(text(statement), params as SqlValue[], { prepare: true })] as unknown as T[],
    run: async (statement: string, params: readonly SqlValue[] = []) =>
      (await sql.unsafe(text(statement), params as SqlValue[], { prepare: true })).count,
  };
}

export class PostgresDriver implements SqlDriver {
  readonly kind = 'postgres';
  readonly #sql: postgres.Sql;
  readonly #lockSql: postgres.Sql;
  readonly #numbered = new Map<string, string>();
  readonly #pool: SqlExecutor;

  constructor(url: string) {
    const options = {
      onnotice: () => undefined,
      connect_timeout: 10,
      // BIGINT columns hold milliseconds, well inside Number's exact range.
      types: { bigint: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) } },
    };
    this.#sql = postgres(url, { ...options, max: POOL_SIZE });
    // Connections are opened on first use: an instance that never refreshes opens none.
    this.#lockSql = postgres(url, { ...options, max: LOCK_POOL_SIZE });
    this.#pool = executor(this.#sql, this.#text);
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
    return (await this.#sql.begin((tx) => fn(executor(tx, this.#text)))) as T;
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
    return (await this.#lockSql.begin(async (raw) => {
      const tx = executor(raw, this.#text);
      // Waiting is bounded: a holder stuck longer than this fails the waiters instead of hanging them.
      await tx.run(`SET LOCAL lock_timeout = '${LOCK_WAIT_SECONDS}s'`);
      await tx.all('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [key]);
      return fn(tx);
    })) as T;
  }

  async close(): Promise<void> {
    await Promise.all([this.#sql.end({ timeout: 5 }), this.#lockSql.end({ timeout: 5 })]);
  }
}
