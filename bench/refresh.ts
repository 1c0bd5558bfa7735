// Token refresh, end to end against a local OpenID provider (oidc-provider): refreshes per second
// through GET /.auth/refresh (distinct users, one refresh each, 8 at a time), and the latency a
// proxied request pays when it triggers a refresh ahead of expiry, next to one that does not.
// Run: npm run bench:refresh [-- --users 100 --requests 200]
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/index.ts';
import { generateKey } from '../src/crypto/keyring.ts';
import { startGateway } from '../src/gateway/gateway.ts';
import { createLogger } from '../src/log/logger.ts';
import { startEcho } from '../test/support/gateway.ts';
import { startOidcProvider } from '../test/support/idp.ts';
import { freePort } from '../test/support/ports.ts';
import { tempDir } from '../test/support/tmp.ts';
import type { UserAgent } from '../test/support/user-agent.ts';
import { oidcSignIn } from '../test/support/sign-in.ts';

const { values } = parseArgs({
  options: { users: { type: 'string', default: '100' }, requests: { type: 'string', default: '200' } },
});
const USERS = Number(values.users);
const REQUESTS = Number(values.requests);

const port = await freePort();
const first = await startOidcProvider([]);
await first.close();
// 'idp' never refreshes before a request (ahead 0); 'eager' always does (ahead longer than a token lives).
const idp = await startOidcProvider(
  ['idp', 'eager'].map((id) => `http://auth.localhost:${port}/.auth/login/${id}/callback`),
  first,
);
const echo = await startEcho();
const { dir, remove } = await tempDir('signonce-bench-');
const provider = (id: string, ahead: string) => ({
  id,
  type: 'oidc',
  issuer: idp.issuer,
  clientId: idp.clientId,
  clientSecret: idp.clientSecret,
  scopes: ['openid', 'email', 'offline_access'],
  authorizationParams: { prompt: 'consent' },
  refresh: { ahead },
});
const config = parseConfig(
  stringify({
    publicUrl: `http://auth.localhost:${port}`,
    listen: { host: '127.0.0.1', port },
    store: `sqlite:${join(dir, 'signonce.db')}`,
    secrets: { encryptionKeys: [generateKey()] },
    log: { level: 'warn' },
    session: { cacheTtl: 0 },
    providers: [provider('idp', '0s'), provider('eager', '2h')],
    apps: [
      { id: 'app', hosts: [`app.localhost:${port}`], upstream: echo.url, defaultProvider: 'idp', tokenStore: true },
      {
        id: 'eager',
        hosts: [`eager.localhost:${port}`],
        upstream: echo.url,
        defaultProvider: 'eager',
        tokenStore: true,
      },
    ],
  }),
  join(dir, 'signonce.yaml'),
  {},
);
const gateway = await startGateway(
  config,
  createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, done) => done() }) }),
);

const signIn = async (host: string, user: string) => (await oidcSignIn(`http://${host}:${port}/`, user)).ua;

const users = [];
for (let i = 0; i < USERS; i++) users.push(await signIn('app.localhost', `user${i}`));
const grants = idp.refreshGrants;
const started = performance.now();
for (let i = 0; i < users.length; i += 8) {
  const answers = await Promise.all(
    users.slice(i, i + 8).map((ua) => ua.request(`http://app.localhost:${port}/.auth/refresh`)),
  );
  if (answers.some((a) => a.status !== 200)) throw new Error('a refresh failed');
}
const refreshesPerSecond = (idp.refreshGrants - grants) / ((performance.now() - started) / 1000);

async function latencies(ua: UserAgent, host: string): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    const answer = await ua.request(`http://${host}:${port}/`);
    await answer.text();
    samples.push(performance.now() - t0);
  }
  return samples.sort((a, b) => a - b);
}
const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
const plain = await latencies(users[0]!, 'app.localhost');
const eager = await signIn('eager.localhost', 'eager');
const before = idp.refreshGrants;
const refreshing = await latencies(eager, 'eager.localhost');
const triggered = idp.refreshGrants - before;

console.log('| measure | value |\n|---|---:|');
console.log(`| refreshes/s through /.auth/refresh (${USERS} users, 8 at a time) | ${refreshesPerSecond.toFixed(0)} |`);
console.log(`| proxied request, no refresh: p50 ms | ${median(plain).toFixed(2)} |`);
console.log(
  `| proxied request that refreshes first: p50 ms (${triggered} refreshes in ${REQUESTS} requests) | ${median(refreshing).toFixed(2)} |`,
);
console.log(`| added by a refresh: p50 ms | ${(median(refreshing) - median(plain)).toFixed(2)} |`);

await gateway.close();
await idp.close();
await new Promise((resolve) => echo.server.close(resolve));
await remove();
