// Copying every row of one store into another (`signonce store migrate`), raw: sealed values stay
// as they are (they are bound to their purpose and owner, not to a database) and session ids stay
// hashes, so with the same keys cookies, authentication tokens and pairwise ids keep working.
// Tables are read in batches by keyset pagination on their primary key; each batch is written in
// one target transaction together with the cursor in store_copies, so a copy killed at any moment
// resumes where the target's last commit left it.
import { CodedError } from '../errors/index.ts';
import type { Row, SqlDriver, SqlExecutor, SqlValue } from './driver.ts';
import { driverFor } from './index.ts';
import { migrate } from './migrations.ts';

/** Every table of data with its primary key, parents first (foreign keys): what is copied, in order. */
export const COPIED_TABLES: ReadonlyArray<{ readonly name: string; readonly key: readonly string[] }> = [
  { name: 'accounts', key: ['id'] },
  { name: 'identities', key: ['provider', 'subject'] },
  { name: 'password_credentials', key: ['provider', 'username'] },
  { name: 'provider_tokens', key: ['account_id', 'provider', 'resource'] },
  { name: 'sessions', key: ['id_hash'] },
  { name: 'one_time_codes', key: ['code_hash'] },
  { name: 'signing_keys', key: ['kid'] },
  { name: 'instance_secrets', key: ['name'] },
  { name: 'sign_in_failures', key: ['key_hash'] },
  { name: 'oidc_artifacts', key: ['model', 'id_hash'] },
  { name: 'seen_tokens', key: ['kind', 'value_hash'] },
  { name: 'group_members', key: ['group_name', 'account_id'] },
  { name: 'provider_groups', key: ['account_id', 'provider'] },
  { name: 'audit_events', key: ['id'] },
  { name: 'second_factors', key: ['account_id', 'kind'] },
  { name: 'recovery_codes', key: ['account_id', 'code_hash'] },
  { name: 'webauthn_credentials', key: ['credential_id'] },
];

/** The store's own bookkeeping, never copied. */
export const BOOKKEEPING_TABLES: readonly string[] = ['schema_migrations', 'store_copies'];

// Rows per INSERT statement: well under both databases' limits on parameters.
const ROWS_PER_STATEMENT = 100;

export interface CopyOptions {
  /** Names the source in the target's store_copies (storeLocation: no credentials). */
  readonly source: string;
  /** Copy into a target holding other data; rows already there win. */
  readonly merge: boolean;
  readonly batchSize: number;
  readonly now: () => number;
  /** After each batch, and once for a table found copied already. */
  readonly progress?: (table: string, done: number, total: number, finished: boolean) => void;
}

export interface TableCopy {
  readonly table: string;
  /** Rows in the source and in the target, counted after the copy. */
  readonly source: number;
  readonly target: number;
  /** Rows this run inserted, and source rows it found in the target already (conflicts). */
  readonly copied: number;
  readonly skipped: number;
}

export interface CopyResult {
  /** `resumed`: an interrupted copy from this source went on; `done-before`: it had finished (nothing copied). */
  readonly start: 'new' | 'resumed' | 'done-before';
  readonly tables: readonly TableCopy[];
  /** Instance secrets the target keeps with another value than the source's (pairwise ids differ). */
  readonly differingSecrets: readonly string[];
}

/** The target holds rows that no copy from this source put there; only --merge may add to it. */
export class TargetNotEmptyError extends CodedError {
  static readonly code = 'ERR_TARGET_NOT_EMPTY';
  readonly code = TargetNotEmptyError.code;
  readonly rows: Readonly<Record<string, number>>;

  constructor(rows: Readonly<Record<string, number>>) {
    super(
      `the target holds data: ${Object.entries(rows)
        .map(([table, n]) => `${table}: ${n}`)
        .join(', ')}`,
    );
    this.rows = rows;
  }
}

/** The database of a store URL, its schema brought up to date; no keys needed. */
export async function openForCopy(url: string): Promise<SqlDriver> {
  const driver = driverFor(url);
  try {
    await migrate(driver, Date.now);
    return driver;
  } catch (error) {
    await driver.close().catch(() => undefined);
    throw error;
  }
}

/** Rows per copied table. */
async function countRows(db: SqlDriver): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { name } of COPIED_TABLES) {
    const [row] = await db.all<{ n: number }>(`SELECT COUNT(*) AS n FROM ${name}`);
    counts[name] = Number(row!.n);
  }
  return counts;
}

type Cursor = { table_name: string; after_key: string | null; copied: number; finished_at: number | null };

export async function copyStore(from: SqlDriver, to: SqlDriver, options: CopyOptions): Promise<CopyResult> {
  const totals = await countRows(from);
  const present = await countRows(to);
  if (Object.values(present).every((n) => n === 0))
    await to.run('DELETE FROM store_copies WHERE source = ?', [options.source]);
  const cursors = new Map(
    (
      await to.all<Cursor>('SELECT table_name, after_key, copied, finished_at FROM store_copies WHERE source = ?', [
        options.source,
      ])
    ).map((c) => [c.table_name, c]),
  );
  // More rows than copies from this source inserted: the target holds data of its own.
  const foreign = COPIED_TABLES.some(({ name }) => present[name]! > Number(cursors.get(name)?.copied ?? 0));
  if (foreign && !options.merge) {
    throw new TargetNotEmptyError(Object.fromEntries(Object.entries(present).filter(([, n]) => n > 0)));
  }
  const finished = (name: string) => cursors.get(name)?.finished_at != null;
  const start =
    cursors.size === 0 ? 'new' : COPIED_TABLES.every(({ name }) => finished(name)) ? 'done-before' : 'resumed';

  const copies: Array<Pick<TableCopy, 'table' | 'copied' | 'skipped'>> = [];
  for (const { name, key } of COPIED_TABLES) {
    const total = totals[name]!;
    const cursor = cursors.get(name);
    if (finished(name) && !options.merge) {
      options.progress?.(name, total, total, true);
      copies.push({ table: name, copied: 0, skipped: 0 });
      continue;
    }
    // A finished table is gone through again under --merge, for the rows the source gained since.
    let after = cursor && !finished(name) ? (JSON.parse(cursor.after_key ?? 'null') as SqlValue[] | null) : null;
    let copiedInAll = Number(cursor?.copied ?? 0);
    let done = after ? copiedInAll : 0;
    let copied = 0;
    let skipped = 0;
    const columns = key.join(', ');
    for (let last = false; !last; ) {
      const rows = after
        ? await from.all(
            `SELECT * FROM ${name} WHERE (${columns}) > (${key.map(() => '?').join(', ')}) ORDER BY ${columns} LIMIT ?`,
            [...after, options.batchSize],
          )
        : await from.all(`SELECT * FROM ${name} ORDER BY ${columns} LIMIT ?`, [options.batchSize]);
      last = rows.length < options.batchSize;
      const end = rows.at(-1);
      if (end) after = key.map((column) => end[column]!);
      const inserted = await to.transaction(async (tx) => {
        const n = await insertRows(tx, name, rows);
        await tx.run(
          `INSERT INTO store_copies (source, table_name, after_key, copied, finished_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (source, table_name) DO UPDATE SET after_key = excluded.after_key, copied = excluded.copied, finished_at = excluded.finished_at`,
          [options.source, name, JSON.stringify(after), copiedInAll + n, last ? options.now() : null],
        );
        return n;
      });
      copiedInAll += inserted;
      copied += inserted;
      skipped += rows.length - inserted;
      done += rows.length;
      options.progress?.(name, done, total, last);
    }
    copies.push({ table: name, copied, skipped });
  }

  const [sourceRows, targetRows] = [await countRows(from), await countRows(to)];
  const secrets = async (db: SqlDriver) =>
    new Map(
      (await db.all<{ name: string; sealed: string }>('SELECT name, sealed FROM instance_secrets')).map((r) => [
        r.name,
        r.sealed,
      ]),
    );
  const [theirs, ours] = [await secrets(from), await secrets(to)];
  return {
    start,
    tables: copies.map((copy) => ({ ...copy, source: sourceRows[copy.table]!, target: targetRows[copy.table]! })),
    differingSecrets: [...theirs]
      .filter(([name, sealed]) => ours.has(name) && ours.get(name) !== sealed)
      .map(([name]) => name),
  };
}

/** Inserts rows not yet in the target (by primary key); how many it inserted. */
async function insertRows(tx: SqlExecutor, table: string, rows: readonly Row[]): Promise<number> {
  if (rows.length === 0) return 0;
  const columns = Object.keys(rows[0]!);
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  let inserted = 0;
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
    inserted += await tx.run(
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${chunk.map(() => tuple).join(', ')} ON CONFLICT DO NOTHING`,
      chunk.flatMap((row) => columns.map((column) => row[column] ?? null)),
    );
  }
  return inserted;
}
