// A group change reaches every instance of a cluster on PostgreSQL: two gateways share one store;
// an operator's `signonce groups remove` (here: the store, from a connection of its own, as the
// command opens one) is refused by the other instance long before session.cacheTtl (30 s here)
// would have let the cached decision go, because the store tells every instance (LISTEN/NOTIFY).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { parseConfig } from '../../src/config/index.ts';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { startGateway } from '../../src/gateway/gateway.ts';
import { openStore } from '../../src/store/index.ts';
import { startEcho } from '../support/gateway.ts';
import { capturedLogger } from '../support/logs.ts';
import { freePort } from '../support/ports.ts';
import { admin, createSchema, postgresSkipReason } from '../support/postgres.ts';
import { tempDir } from '../support/tmp.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';

const PASSWORD = 'a long and unusual passphrase';

test('a group removed on PostgreSQL: the other instance refuses within milliseconds, not cacheTtl', {
  skip: postgresSkipReason,
}, async () => {
  const sql = admin();
  const { schema, url } = await createSchema(sql);
  const echo = await startEcho();
  const { dir, remove } = await tempDir();
  const key = generateKey();
  const ports = [await freePort(), await freePort()];
  const app = `wiki.localhost:${ports[0]}`;
  const gateways = await Promise.all(
    ports.map((port) =>
      startGateway(
        parseConfig(
          stringify({
            publicUrl: `http://auth.localhost:${ports[0]}`,
            listen: { host: '127.0.0.1', port },
            store: url,
            secrets: { encryptionKeys: [key] },
            session: { cacheTtl: '30s' },
            providers: [{ id: 'local', type: 'password' }],
            apps: [
              {
                id: 'wiki',
                hosts: [app],
                upstream: echo.url,
                defaultProvider: 'local',
                access: [{ allow: { groups: ['editors'] } }],
              },
            ],
          }),
          join(dir, 'signonce.yaml'),
          {},
        ),
        capturedLogger().logger,
      ),
    ),
  );
  const operator = await openStore(url, { keyring: new Keyring([key]) });
  try {
    const registered = await new LocalAccounts(operator).register('local', 'ann', PASSWORD, 12);
    assert.ok(registered.ok);
    await operator.addGroupMembers('editors', [registered.accountId]);

    // Signed in through instance 0; every later request goes to instance 1 (a load balancer's choice).
    const ua = new UserAgent();
    ua.via = () => ports[0]!;
    const form = await ua.navigate(`http://${app}/page`);
    const landed = await ua.submitForm(finalUrl(form), await form.text(), { username: 'ann', password: PASSWORD });
    assert.equal(landed.status, 200);
    ua.via = () => ports[1]!;
    assert.equal((await ua.request(`http://${app}/page`)).status, 200, 'instance 1 lets ann in, and keeps that');

    await operator.removeGroupMembers('editors', [registered.accountId]);
    const removed = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - removed < 10_000) {
      status = (await ua.request(`http://${app}/page`, { headers: { accept: 'application/json' } })).status;
      if (status === 200) await sleep(5);
    }
    const took = Date.now() - removed;
    assert.equal(status, 403);
    assert.ok(took < 2000, `refused after ${took} ms (cacheTtl is 30 s: the notice evicted the cached decision)`);
    console.log(`# group removal seen by the other instance after ${took} ms`);
  } finally {
    await operator.close();
    await Promise.all(gateways.map((g) => g.close()));
    await new Promise((resolve) => echo.server.close(resolve));
    await remove();
    await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    await sql.end();
  }
});
