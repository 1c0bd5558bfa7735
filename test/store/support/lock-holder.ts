// Child process of the lock test: takes the lock of one token set (changeTokens) and, holding it,
// says so and never finishes — as a refresher whose provider call hangs. The parent kills it.
import { writeSync } from 'node:fs';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { openStore } from '../../../src/store/index.ts';

const [url, key, accountId] = process.argv.slice(2) as [string, string, string];
const store = await openStore(url, { keyring: new Keyring([key]) });
await store.changeTokens({ accountId, provider: 'google', resource: '' }, async () => {
  writeSync(1, 'locked\n');
  return new Promise<never>(() => undefined);
});
