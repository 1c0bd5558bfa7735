// The little a SQL database must provide for SqlStore. Statements are written once, in the SQL that
// SQLite and PostgreSQL share, with `?` placeholders; a driver adapts them to its client.

export type SqlValue = string | number | null;
export type Row = Record<string, SqlValue>;

export interface SqlExecutor {
  /** Rows of a query (or of a statement with RETURNING). */
  all<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs a statement; returns the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

/** A driver whose statements, transactions and locked sections report how long they took. */
export function timedDriver(
  driver: SqlDriver,
  observe: (operation: 'query' | 'transaction' | 'locked', seconds: number) => void,
): SqlDriver {
  const timed = async <T>(operation: 'query' | 'transaction' | 'locked', work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      observe(operation, (performance.now() - started) / 1000);
    }
  };
  return {
    kind: driver.kind,
    jsonText: (column, key) => driver.jsonText(column, key),
    all: (sql, params) => timed('query', () => driver.all(sql, params)),
    run: (sql, params) => timed('query', () => driver.run(sql, params)),
    transaction: (fn) => timed('transaction', () => driver.transaction(fn)),
    exclusiveTransaction: (fn) => timed('transaction', () => driver.exclusiveTransaction(fn)),
    locked: (key, fn) => timed('locked', () => driver.locked(key, fn)),
    broadcast: (message) => driver.broadcast(message),
    receive: (handlers) => driver.receive(handlers),
    close: () => driver.close(),
  };
}

/**
 * The names `jsonText` splices into SQL: ours, never a caller's text, yet checked, so that no
 * future caller can turn one into an injection.
 */
export function sqlName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new RangeError(`${JSON.stringify(name)} is not an SQL name`);
  return name;
}

export interface BroadcastHandlers {
  message(message: string): void;
  deaf(): void;
  hearing(): void;
}

export interface SqlDriver extends SqlExecutor {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * An SQL expression: the string at top-level `key` of the JSON text in `column`, NULL when the
   * column is NULL, not an object, or holds anything but a string there (a number, an object),
   * the same on every database. The one place the dialects differ in reading JSON.
   */
  jsonText(column: string, key: string): string;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** A transaction that no other process runs at the same time (schema migrations). */
  exclusiveTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` while holding a lock on `key` that no other holder of the same key gets meanwhile
   * (across processes where the database allows it: see each driver). The lock is never a lease
   * that could expire while its holder still works, and a holder that dies releases it.
   */
  locked<T>(key: string, fn: (executor: SqlExecutor) => Promise<T>): Promise<T>;
  /** Sends `message` to every other process's `receive` on this database (none on SQLite). */
  broadcast(message: string): Promise<void>;
  /**
   * Starts delivering other processes' broadcasts to `handlers.message`; resolves once it does.
   * `deaf`: delivery stopped (the connection was lost; messages may be missed meanwhile);
   * `hearing`: it works again.
   */
  receive(handlers: BroadcastHandlers): Promise<void>;
  close(): Promise<void>;
}
