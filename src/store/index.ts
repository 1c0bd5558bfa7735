// Opening a store by its configured URL: `sqlite:PATH` or `postgres://…`.
import { resolve } from 'node:path';
import { migrate } from './migrations.ts';
import { PostgresDriver } from './postgres.ts';
import { SqliteDriver } from './sqlite.ts';
import { SqlStore, type StoreOptions } from './sql-store.ts';
import type { SqlDriver } from './driver.ts';
import { StoreUnavailableError, type Store } from './types.ts';

export * from './types.ts';
export type { StoreOptions } from './sql-store.ts';

const URL_FORMS = 'a store URL is sqlite:PATH or postgres://user:password@host:5432/db';

export function driverFor(url: string): SqlDriver {
  if (url.startsWith('sqlite:')) return new SqliteDriver(resolve(url.slice('sqlite:'.length)));
  if (/^postgres(ql)?:\/\//.test(url)) return new PostgresDriver(url);
  throw new RangeError(URL_FORMS);
}

/** The store a URL names, without credentials: how messages name it, and how two URLs are told apart. */
export function storeLocation(url: string): string {
  if (url.startsWith('sqlite:')) return `sqlite:${resolve(url.slice('sqlite:'.length))}`;
  if (/^postgres(ql)?:\/\//.test(url)) {
    const location = new URL(url.replace(/^postgresql:/, 'postgres:'));
    location.username = '';
    location.password = '';
    location.searchParams.delete('password');
    return location.href;
  }
  throw new RangeError(URL_FORMS);
}

/** Opens the store and brings its schema up to date. */
export async function openStore(url: string, options: StoreOptions): Promise<Store> {
  const driver = driverFor(url);
  try {
    await migrate(driver, options.now ?? (() => Date.now()));
  } catch (error) {
    await driver.close().catch(() => undefined);
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(`cannot open the ${driver.kind} store: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const store = new SqlStore(driver, options);
  try {
    await store.hearOthers();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return store;
}
