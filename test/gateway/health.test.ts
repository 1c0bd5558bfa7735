import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { buildServer } from '../../src/gateway/server.ts';
import { AuthenticationTokens } from '../../src/session/authentication-tokens.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { admin, createSchema, postgresSkipReason } from '../support/postgres.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { capturedLogger } from '../support/logs.ts';
import { tempDir } from '../support/tmp.ts';

async function serverOn(store: Store, keyring: Keyring, logger = capturedLogger().logger) {
  const config = parseConfig(
    `publicUrl: http://auth.localhost\nsecrets: { encryptionKeys: ["${generateKey()}"] }\n`,
    'test.yaml',
    {},
  );
  const authenticationTokens = await AuthenticationTokens.open(store, {
    issuer: config.publicUrl,
    tokenValidityMs: config.session.lifetime,
  });
  return buildServer({ config, store, keyring, providers: new Map(), authenticationTokens, logger });
}

test('healthz and readyz answer 200 on a working SQLite store', async () => {
  const { dir, remove } = await tempDir();
  after(remove);
  const keyring = new Keyring([generateKey()]);
  const store = await openStore(`sqlite:${join(dir, 's.db')}`, { keyring });
  const app = await serverOn(store, keyring);
  after(async () => {
    await app.close();
    await store.close();
  });
  for (const path of ['/healthz', '/readyz']) {
    const response = await app.inject({ url: path });
    assert.equal(response.statusCode, 200, path);
    assert.equal(response.headers['cache-control'], 'no-store');
  }
});

test('readyz says 503 while PostgreSQL is unreachable and 200 again when it returns', {
  skip: postgresSkipReason,
}, async () => {
  const sql = admin();
  const { schema, url } = await createSchema(sql);
  after(async () => {
    await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    await sql.end();
  });
  const target = new URL(url);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  target.host = `127.0.0.1:${proxy.port}`;
  const keyring = new Keyring([generateKey()]);
  const store = await openStore(target.toString(), { keyring });
  const { logger, lines } = capturedLogger();
  const app = await serverOn(store, keyring, logger);
  after(async () => {
    await app.close();
    await store.close();
    await proxy.close();
  });

  assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
  proxy.cut();
  const down = await app.inject({ url: '/readyz' });
  assert.equal(down.statusCode, 503);
  assert.deepEqual(down.json(), { status: 'unavailable', reason: 'the postgres store does not answer' });
  assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'the process itself stays up');
  assert.ok(lines.some((l) => JSON.parse(l).msg === 'not ready: the store does not answer'));
  proxy.restore();
  // The pool reconnects by itself on the next query.
  assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
});
