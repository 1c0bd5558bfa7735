// Child process of the crash test: writes token sets as fast as it can and reports each one only
// after the store acknowledged it. The parent kills it with SIGKILL mid-stream.
import { writeSync } from 'node:fs';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { openStore } from '../../../src/store/index.ts';

const [url, key, tag] = process.argv.slice(2) as [string, string, string];
const store = await openStore(url, { keyring: new Keyring([key]) });
for (let i = 0; ; i++) {
  const { account } = await store.resolveIdentity('crash', `subject-${i}`);
  await store.putTokens(
    { accountId: account.id, provider: 'crash', resource: '' },
    { accessToken: `access-${tag}-${i}`, refreshToken: `refresh-${tag}-${i}`, expiresAt: i },
  );
  writeSync(1, `${i} ${account.id}\n`);
}
