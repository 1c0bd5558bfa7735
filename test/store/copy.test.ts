// `signonce store migrate` copies the tables COPIED_TABLES lists: a table added to the schema and
// not to that list would silently stay behind, so the list is checked against a migrated store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { BOOKKEEPING_TABLES, COPIED_TABLES, openForCopy } from '../../src/store/copy.ts';
import { admin, createSchema, postgresSkipReason } from '../support/postgres.ts';
import { tempDir } from '../support/tmp.ts';

const listed = COPIED_TABLES.map((t) => t.name);

test('sqlite: COPIED_TABLES lists every table of the schema with its primary key, each after the tables it references', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const path = join(dir, 'fresh.db');
  await (await openForCopy(`sqlite:${path}`)).close();
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
    .all()
    .map((row) => String(row.name));
  assert.deepEqual(tables.filter((name) => !BOOKKEEPING_TABLES.includes(name)).sort(), [...listed].sort());
  for (const { name, key } of COPIED_TABLES) {
    const columns = db.prepare(`PRAGMA table_info(${name})`).all() as Array<{ name: string; pk: number }>;
    assert.deepEqual(
      columns
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name),
      key,
      `${name}: primary key`,
    );
    for (const reference of db.prepare(`PRAGMA foreign_key_list(${name})`).all() as Array<{ table: string }>) {
      assert.ok(
        listed.indexOf(reference.table) < listed.indexOf(name),
        `${name} is copied after ${reference.table}, which it references`,
      );
    }
  }
});

test('postgres: COPIED_TABLES lists every table of the schema with its primary key', {
  skip: postgresSkipReason,
}, async (t) => {
  const sql = admin();
  const { schema, url } = await createSchema(sql);
  t.after(async () => {
    await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    await sql.end();
  });
  await (await openForCopy(url)).close();
  const tables = await sql`SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema}`;
  assert.deepEqual(
    tables
      .map((r) => String(r.table_name))
      .filter((name) => !BOOKKEEPING_TABLES.includes(name))
      .sort(),
    [...listed].sort(),
  );
  for (const { name, key } of COPIED_TABLES) {
    const columns = await sql`
      SELECT k.column_name FROM information_schema.table_constraints c
      JOIN information_schema.key_column_usage k ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
      WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = ${schema} AND c.table_name = ${name}
      ORDER BY k.ordinal_position`;
    assert.deepEqual(
      columns.map((r) => String(r.column_name)),
      key,
      `${name}: primary key`,
    );
  }
});
