// PostgreSQL for tests: SIGNONCE_TEST_POSTGRES names the server. Each store under test gets a schema
// of its own, so test files run in parallel on one database without seeing each other.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export const postgresUrl = process.env.SIGNONCE_TEST_POSTGRES;

/** Why PostgreSQL tests are skipped, or undefined when they run (and must then pass). */
export const postgresSkipReason = postgresUrl
  ? undefined
  : 'SIGNONCE_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test): PostgreSQL tests skipped';

export function admin(): postgres.Sql {
  return postgres(postgresUrl!, { max: 2, onnotice: () => undefined, connect_timeout: 5 });
}

/** A new empty schema; the returned URL points the store at it. */
export async function createSchema(sql: postgres.Sql): Promise<{ schema: string; url: string }> {
  const schema = `signonce_test_${randomBytes(6).toString('hex')}`;
  await sql.unsafe(`CREATE SCHEMA ${schema}`);
  const url = new URL(postgresUrl!);
  url.searchParams.set('search_path', schema);
  return { schema, url: url.toString() };
}
