import type postgres from 'postgres';
import { admin, createSchema, postgresSkipReason } from '../support/postgres.ts';
import { storeConformance } from './conformance.ts';

const schemas: string[] = [];
let adminSql: postgres.Sql | undefined;
const sql = () => (adminSql ??= admin());
const schemaOf = (url: string) => new URL(url).searchParams.get('search_path')!;

storeConformance({
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
});
