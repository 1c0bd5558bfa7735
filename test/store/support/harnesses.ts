// The conformance suite's harnesses, one per driver: fresh store URLs and raw access to what the
// store wrote. Other suites that must look beneath the Store (secrets at rest) use them too.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type postgres from 'postgres';
import { admin, createSchema, postgresSkipReason } from '../../support/postgres.ts';
import { tempDir } from '../../support/tmp.ts';
import type { StoreHarness } from '../conformance.ts';

const pathOf = (url: string) => url.slice('sqlite:'.length);
const schemaOf = (url: string) => new URL(url).searchParams.get('search_path')!;

/** Stores in SQLite files, each in a temporary folder. */
export function sqliteHarness(): StoreHarness {
  const dirs: Array<() => Promise<void>> = [];
  return {
    clustered: false,
    name: 'sqlite',
    async newUrl() {
      const { dir, remove } = await tempDir();
      dirs.push(remove);
      return `sqlite:${join(dir, 'nested', 'signonce.db')}`;
    },
    async rawContents(url) {
      // The database file and its write-ahead log, where recent commits live until a checkpoint.
      const files = ['', '-wal'].map((suffix) => readFile(pathOf(url) + suffix, 'latin1').catch(() => ''));
      return (await Promise.all(files)).join('\n');
    },
    async tables(url) {
      return (await this.query(url, "SELECT name FROM sqlite_master WHERE type = 'table'")).map((row) =>
        String(row.name),
      );
    },
    async query(url, statement, params = []) {
      // A store not opened yet has no folder (openStore makes it, owner only).
      await mkdir(dirname(pathOf(url)), { recursive: true, mode: 0o700 });
      const db = new DatabaseSync(pathOf(url), { timeout: 5000 });
      try {
        return db.prepare(statement).all(...params) as Array<Record<string, unknown>>;
      } finally {
        db.close();
      }
    },
    async cleanup() {
      await Promise.all(dirs.map((remove) => remove()));
    },
  };
}

/** Stores in PostgreSQL (SIGNONCE_TEST_POSTGRES), each in a schema of its own. */
export function postgresHarness(): StoreHarness {
  const schemas: string[] = [];
  let adminSql: postgres.Sql | undefined;
  const sql = () => (adminSql ??= admin());
  return {
    clustered: true,
    name: 'postgres',
    skip: postgresSkipReason,
    async newUrl() {
      const { schema, url } = await createSchema(sql());
      schemas.push(schema);
      return url;
    },
    async rawContents(url) {
      // Every row of every table, as PostgreSQL renders it.
      const schema = schemaOf(url);
      const tables = await sql()`SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema}`;
      const dumps = await Promise.all(
        tables.map(({ table_name }) => sql().unsafe(`SELECT t::text AS row FROM ${schema}.${table_name} t`)),
      );
      return dumps
        .flat()
        .map((r) => r.row)
        .join('\n');
    },
    async tables(url) {
      const rows = await sql()`SELECT table_name FROM information_schema.tables WHERE table_schema = ${schemaOf(url)}`;
      return rows.map((row) => String(row.table_name));
    },
    async query(url, statement, params = []) {
      const schema = schemaOf(url);
      return sql().begin(async (tx) => {
        await tx.unsafe(`SET LOCAL search_path TO ${schema}`);
        let n = 0;
        return [
          ...(await tx.unsafe(
            statement.replace(/\?/g, () => `$${++n}`),
            params,
          )),
        ];
      });
    },
    async cleanup() {
      for (const schema of schemas) await sql().unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await adminSql?.end();
    },
  };
}
