import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { openStore } from '../../src/store/index.ts';
import { tempDir } from '../support/tmp.ts';
import { storeConformance } from './conformance.ts';
import { sqliteHarness } from './support/harnesses.ts';

storeConformance(sqliteHarness());

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
