// Authentication-token verification per second in one process, as an app backend does it with
// signonce/verify: cold (a new verifier per token, so the key set is fetched each time) and with
// its cache (one verifier), beside the gateway's own verification (keys in memory).
// Run: npm run bench:tokens [-- --seconds 3]
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { fetch as undiciFetch } from 'undici';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/index.ts';
import { Keyring, generateKey } from '../src/crypto/keyring.ts';
import { startGateway } from '../src/gateway/gateway.ts';
import { createLogger } from '../src/log/logger.ts';
import { AuthenticationTokens } from '../src/session/authentication-tokens.ts';
import { openStore } from '../src/store/index.ts';
import { createVerifier } from '../src/verify/index.ts';
import { loopback } from '../test/support/user-agent.ts';
import { nativeDevSignIn } from '../test/support/sign-in.ts';
import { freePort } from '../test/support/ports.ts';
import { tempDir } from '../test/support/tmp.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' } } });
const seconds = Number(values.seconds);

const port = await freePort();
const { dir, remove } = await tempDir('signonce-bench-');
const key = generateKey();
const store = `sqlite:${join(dir, 'signonce.db')}`;
const issuer = `http://auth.localhost:${port}`;
const config = parseConfig(
  stringify({
    publicUrl: issuer,
    listen: { host: '127.0.0.1', port },
    store,
    secrets: { encryptionKeys: [key] },
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    log: { level: 'warn' },
    apps: [
      {
        id: 'api',
        hosts: [`api.localhost:${port}`],
        upstream: 'http://127.0.0.1:9',
        defaultProvider: 'dev',
        allowedExternalRedirectUrls: ['benchapp://done'],
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
const { authenticationToken } = await nativeDevSignIn(`http://api.localhost:${port}`, 'benchapp://done', {
  user_id: 'bench@example.com',
});

const fetchLocal = ((input: string | URL, init?: object) =>
  undiciFetch(input, { ...init, dispatcher: loopback })) as unknown as typeof fetch;

/** Verifications per second of `verify`, run one after another for `seconds`. */
async function rate(verify: () => Promise<unknown>): Promise<number> {
  await verify();
  let count = 0;
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  while (performance.now() < until) {
    await verify();
    count++;
  }
  return count / ((performance.now() - started) / 1000);
}

const options = { issuer, audience: 'api', fetch: fetchLocal };
const cached = createVerifier(options);
const inGateway = await openStore(store, { keyring: new Keyring([key]) });
const local = await AuthenticationTokens.open(inGateway, { issuer, tokenValidityMs: config.session.lifetime });
const rows: Array<[string, number]> = [
  ['signonce/verify, cold (key set fetched per token)', await rate(() => createVerifier(options)(authenticationToken))],
  ['signonce/verify, cached key set', await rate(() => cached(authenticationToken))],
  ['gateway verification (keys in memory)', await rate(() => local.verify(authenticationToken, ['api']))],
];
console.log('| verification | per second |\n|---|---:|');
for (const [name, perSecond] of rows) console.log(`| ${name} | ${Math.round(perSecond)} |`);

await inGateway.close();
await gateway.close();
await remove();
