// SQLite through node:sqlite: the embedded store for one host. WAL lets readers run beside the
// writer; synchronous=FULL makes every acknowledged commit survive a crash or power loss (a lost
// rotated refresh token signs a user out); busy_timeout lets several processes share the file.
import { KeyedMutex } from '../concurrency/keyed-mutex.ts';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { sqlName, type Row, type SqlDriver, type SqlExecutor, type SqlValue } from './driver.ts';

const BUSY_TIMEOUT_MS = 5000;
const SQLITE_BUSY = 5;
const ignore = (): void => undefined;

export class SqliteDriver implements SqlDriver {
  readonly kind = 'sqlite';
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  // node:sqlite is synchronous on one connection: while a transaction awaits between statements,
  // every other caller waits here, or its statements would run inside that transaction.
  #transaction: Promise<unknown> | undefined;
  readonly #locks = new KeyedMutex();
  readonly #direct: SqlExecutor = {
    all: async <T extends Row>(sql: string, params: readonly SqlValue[] = []) =>
      this.#statement(sql).all(...params) as T[],
    run: async (sql: string, params: readonly SqlValue[] = []) => Number(this.#statement(sql).run(...params).changes),
  };

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Created owner-only before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
    closeSync(openSync(path, 'a', 0o600));
    this.#db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
    // Memory-mapped reads of the first 256 MiB spare a read() per page: lookups stay as fast with
    // 100,000 accounts as with 1,000 (bench/store.ts).
    const setup =
      'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA mmap_size = 268435456';
    // Switching a new file to WAL while another process does the same can fail with SQLITE_BUSY
    // without the busy handler being consulted: retry, briefly, within the busy timeout.
    const deadline = Date.now() + BUSY_TIMEOUT_MS;
    for (;;) {
      try {
        this.#db.exec(setup);
        break;
      } catch (error) {
        if ((error as { errcode?: number }).errcode !== SQLITE_BUSY || Date.now() > deadline) throw error;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
  }

  jsonText(column: string, key: string): string {
    const path = `'$.${sqlName(key)}'`;
    return `CASE json_type(${sqlName(column)}, ${path}) WHEN 'text' THEN json_extract(${column}, ${path}) END`;
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  // Callers re-check after every wait and then act without awaiting, so two waiters woken by the
  // same transaction's end cannot both proceed into a new one.
  async all<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    while (this.#transaction) await this.#transaction.catch(ignore);
    return this.#direct.all<T>(sql, params);
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    while (this.#transaction) await this.#transaction.catch(ignore);
    return this.#direct.run(sql, params);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    while (this.#transaction) await this.#transaction.catch(ignore);
    const running = (async () => {
      // IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading a read.
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.#direct);
        this.#db.exec('COMMIT');
        return result;
      } catch (error) {
        this.#db.exec('ROLLBACK');
        throw error;
      }
    })();
    this.#transaction = running;
    try {
      return await running;
    } finally {
      this.#transaction = undefined;
    }
  }

  exclusiveTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    // BEGIN IMMEDIATE already excludes every other writer of the file.
    return this.transaction(fn);
  }

  /**
   * Exclusive within this process only. Holding SQLite's write lock while `fn` awaits (a provider
   * call) would stall every statement of the process behind the transaction gate, so `fn` runs
   * outside a transaction, its statements one by one. Several processes on one SQLite file are
   * not excluded from each other: run several instances on PostgreSQL.
   */
  locked<T>(key: string, fn: (executor: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#locks.run(key, () => fn(this));
  }

  // One host, one process serving it: no other instance to tell or to hear (see locked()).
  async broadcast(): Promise<void> {}

  async receive(): Promise<void> {}

  async close(): Promise<void> {
    while (this.#transaction) await this.#transaction.catch(ignore);
    this.#statements.clear();
    this.#db.close();
  }
}
