// PostgreSQL going away must look like an outage, not like a sign-out: 503, sessions kept.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, createSchema, postgresSkipReason } from '../support/postgres.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { startTestGateway } from '../support/gateway.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';

test('while the store is unreachable requests get 503; afterwards the same session still works', {
  skip: postgresSkipReason,
}, async () => {
  const sql = admin();
  const { schema, url } = await createSchema(sql);
  const target = new URL(url);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  target.host = `127.0.0.1:${proxy.port}`;
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    store: target.toString(),
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'dev' }],
    // Every request reads the store (by default a session used in the last second is reused).
    session: { cacheTtl: 0 },
  }));
  after(async () => {
    await gw.close();
    await proxy.close();
    await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    await sql.end();
  });

  const ua = new UserAgent();
  const form = await ua.navigate(gw.url('app.localhost', '/'));
  const signedIn = await ua.submitForm(finalUrl(form), await form.text(), { user_id: 'erin@example.com' });
  assert.equal(signedIn.status, 200);

  proxy.cut();
  const during = await ua.request(gw.url('app.localhost', '/'));
  assert.equal(during.status, 503);
  assert.match(await during.text(), /cannot serve this request right now/);
  assert.ok(ua.jar.get(`app.localhost:${gw.port}`)?.has('AppServiceAuthSession'), 'the cookie was not cleared');

  proxy.restore();
  const afterwards = await ua.request(gw.url('app.localhost', '/'));
  assert.equal(afterwards.status, 200);
  assert.equal(
    ((await afterwards.json()) as { headers: Record<string, string> }).headers['x-ms-client-principal-name'],
    'erin@example.com',
  );
});
