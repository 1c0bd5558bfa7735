// Child process of the concurrent start-up test: one SignOnce instance opening the store.
import { Keyring } from '../../../src/crypto/keyring.ts';
import { openStore } from '../../../src/store/index.ts';

const [url, key, name, startAt] = process.argv.slice(2) as [string, string, string, string];
// Every instance starts at the same instant, whatever its own start-up took.
await new Promise((resolve) => setTimeout(resolve, Number(startAt) - Date.now()));
const store = await openStore(url, { keyring: new Keyring([key]) });
const { account } = await store.resolveIdentity('start-up', name);
await store.close();
process.stdout.write(account.id);
