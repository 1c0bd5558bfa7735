import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { openStore } from '../../src/store/index.ts';
import { tempDir } from '../support/tmp.ts';
import { storeConformance } from './conformance.ts';

const dirs: Array<() => Promise<void>> = [];
const pathOf = (url: string) => url.slice('sqlite:'.length);

storeConformance({
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
});

test('sqlite: the database and its folder are readable by the owner only', async () => {
  const { dir, remove } = await tempDir();
  try {
    const path = join(dir, 'data', 'signonce.db');
    const store = await openStore(`sqlite:${path}`, { keyring: new Keyring([generateKey()]) });
    await store.resolveIdentity('google', 'x');
    assert.equal((await stat(join(dir, 'data'))).mode & 0o777, 0o700);
    for (const file of [path, `${path}-wal`]) assert.equal((await stat(file)).mode & 0o077, 0, file);
    await store.close();
  } finally {
    await remove();
  }
});
