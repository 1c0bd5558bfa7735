// Requests/s and latency of (a) the backend directly, (b) a minimal Node reverse proxy (node:http +
// undici, no authentication), (c) SignOnce with a signed-in session cookie, identity and token
// headers injected, (d) the same with an authentication token (X-ZUMO-AUTH) instead of the cookie,
// (e) as (c) at an app with 20 access rules, the last of which lets the user in by a SignOnce
// group (so memberships are read and every rule is evaluated), (f) requests with an identity
// provider's JWT access token (Authorization: Bearer, from a local oidc-provider) at an app with
// acceptProviderTokens (verified once, then kept until its exp). Load comes from other processes: autocannon with many connections for
// requests/s, and bench/latency.ts with one connection and one request at a time for the latency
// a request pays without queueing (under full load, latency only mirrors requests/s). Scenarios
// alternate over several rounds and the medians of the per-round ratios and differences are
// printed (this machine is noisy); every other round runs them in reverse order.
// Run: npm run bench:gateway [-- --rounds 5 --seconds 5 --connections 32]
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/index.ts';
import { generateKey } from '../src/crypto/keyring.ts';
import { startGateway } from '../src/gateway/gateway.ts';
import { createLogger } from '../src/log/logger.ts';
import { UserAgent } from '../test/support/user-agent.ts';
import { startOidcProvider } from '../test/support/idp.ts';
import { nativeDevSignIn, nativeOidcTokens } from '../test/support/sign-in.ts';
import { freePort } from '../test/support/ports.ts';
import { tempDir } from '../test/support/tmp.ts';
import { parseArgs } from 'node:util';
import { load as loadWith, median, startBackend, storeBenchTokens, type Result } from './load.ts';
import { startMinimalProxy } from './proxy.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    // e.g. --scenarios c to profile SignOnce alone; ratios need b and c.
    scenarios: { type: 'string', default: 'a,b,c,d,e,f' },
    // Signed in, but no X-MS-TOKEN-* headers: shows what token injection costs.
    'without-tokens': { type: 'boolean', default: false },
    // session.cacheTtl of SignOnce; 0 resolves every cookie in the store (what a cache miss costs).
    'session-cache-ttl': { type: 'string', default: '1s' },
  },
});
const ROUNDS = Number(values.rounds);

// (a) the backend, in its own process.
const backend = await startBackend();
const backendUrl = backend.url;

// (b) a minimal reverse proxy: what any proxy must do, nothing more.
const minimal = await startMinimalProxy(backendUrl);
const minimalUrl = minimal.url;

// (e)'s policy: 19 rules that apply to the request but do not match the user, or do not apply to
// it, then the one that lets the user in (a SignOnce group).
const TWENTY_RULES = [
  ...Array.from({ length: 8 }, (_, i) => ({
    paths: [`/admin${i}/*`],
    methods: ['POST', 'PUT', 'DELETE'],
    allow: { groups: [`admins-${i}`] },
  })),
  ...Array.from({ length: 8 }, (_, i) => ({ deny: { emails: [`blocked${i}@example.com`] } })),
  { deny: { emailDomains: ['blocked.example', '*.blocked.example'] } },
  { deny: { claims: { department: ['contractors', 'interns'] } } },
  { paths: ['/private/*'], allow: { groups: ['staff'] } },
  { allow: { all: [{ groups: ['bench'] }, { providers: ['dev'] }] } },
];

// (c) SignOnce: dev sign-in, then provider tokens stored so X-MS-TOKEN-* headers are injected too.
const port = await freePort();
const { dir, remove } = await tempDir('signonce-bench-');
const key = generateKey();
const store = `sqlite:${join(dir, 'signonce.db')}`;
// (f)'s identity provider: JWT access tokens (RFC 9068) for the resource api://bench.
const idpCallback = `http://auth.localhost:${port}/.auth/login/idp/callback`;
const idp = await startOidcProvider([idpCallback], undefined, {
  resourceServers: { 'api://bench': { scope: 'bench.read', accessTokenFormat: 'jwt' } },
});
const config = parseConfig(
  stringify({
    publicUrl: `http://auth.localhost:${port}`,
    listen: { host: '127.0.0.1', port },
    store,
    secrets: { encryptionKeys: [key] },
    devMode: true,
    providers: [
      { id: 'dev', type: 'dev' },
      { id: 'idp', type: 'oidc', issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret },
    ],
    log: { level: 'warn' },
    session: { cacheTtl: values['session-cache-ttl'] },
    apps: [
      {
        id: 'bench',
        hosts: [`bench.localhost:${port}`],
        upstream: backendUrl,
        defaultProvider: 'dev',
        tokenStore: !values['without-tokens'],
        allowedExternalRedirectUrls: ['benchapp://done'],
      },
      {
        id: 'policy',
        hosts: [`policy.localhost:${port}`],
        upstream: backendUrl,
        defaultProvider: 'dev',
        tokenStore: !values['without-tokens'],
        access: TWENTY_RULES,
      },
      {
        id: 'api',
        hosts: [`api.localhost:${port}`],
        upstream: backendUrl,
        acceptProviderTokens: [{ provider: 'idp', audiences: ['api://bench'] }],
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
const ua = new UserAgent();
const form = await ua.navigate(`http://bench.localhost:${port}/`);
await ua.submitForm(form.url, await form.text(), { user_id: 'bench@example.com' });
const { store: tokens, accountId } = await storeBenchTokens(store, key);
await tokens.addGroupMembers('bench', [accountId]);
await tokens.close();
const cookie = ua.cookieHeader(new URL(`http://bench.localhost:${port}/`))!;
// (e): the same session at the app with rules (single sign-on hands it over).
await ua.navigate(`http://policy.localhost:${port}/`);
const policyCookie = ua.cookieHeader(new URL(`http://policy.localhost:${port}/`))!;
// The same user, signed in as a native app: an authentication token instead of the cookie.
const { authenticationToken } = await nativeDevSignIn(`http://bench.localhost:${port}`, 'benchapp://done', {
  user_id: 'bench@example.com',
});
// (f): a user's access token for api://bench, as the provider's own sign-in gives it to an app.
const { access_token: providerToken } = await nativeOidcTokens(idp.issuer, idp, idpCallback, 'bench', {
  resource: 'api://bench',
  scope: 'bench.read',
});
for (const [app, credential] of [
  ['bench', { cookie }],
  ['policy', { cookie: policyCookie }],
  ['api', { authorization: `Bearer ${providerToken}` }],
] as const) {
  const check = await request(`http://127.0.0.1:${port}/`, {
    headers: { host: `${app}.localhost:${port}`, ...credential },
  });
  if (check.statusCode !== 200)
    throw new Error(`SignOnce answered ${check.statusCode} at ${app}: the credential does not work`);
  await check.body.dump();
}

const load = (url: string, headers: Record<string, string> = {}) =>
  loadWith(url, headers, { connections: values.connections, seconds: values.seconds });

const scenarios = (
  [
    ['(a) backend directly', () => load(`${backendUrl}/`)],
    ['(b) minimal Node proxy', () => load(`${minimalUrl}/`)],
    ['(c) SignOnce, signed in', () => load(`http://127.0.0.1:${port}/`, { host: `bench.localhost:${port}`, cookie })],
    [
      '(d) SignOnce, authentication token',
      () => load(`http://127.0.0.1:${port}/`, { host: `bench.localhost:${port}`, 'x-zumo-auth': authenticationToken }),
    ],
    [
      '(e) SignOnce, signed in, 20 access rules',
      () => load(`http://127.0.0.1:${port}/`, { host: `policy.localhost:${port}`, cookie: policyCookie }),
    ],
    [
      '(f) SignOnce, provider bearer JWT',
      () =>
        load(`http://127.0.0.1:${port}/`, { host: `api.localhost:${port}`, authorization: `Bearer ${providerToken}` }),
    ],
  ] as Array<[string, () => Promise<Result>]>
).filter(([name]) => values.scenarios.split(',').includes(name[1]!));
const results = new Map<string, Result[]>(scenarios.map(([name]) => [name, []]));
for (const [, run] of scenarios) await run(); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  // Every other round in reverse order: no scenario always runs just after another one's load.
  for (const [name, run] of round % 2 ? [...scenarios].reverse() : scenarios) results.get(name)!.push(await run());
  process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
}

console.log(
  `| scenario | requests/s, ${values.connections} connections (median of ${ROUNDS}) | p50 ms, 1 connection | p99 ms, 1 connection | errors |`,
);
console.log('|---|---:|---:|---:|---:|');
for (const [name, rs] of results) {
  console.log(
    `| ${name} | ${Math.round(median(rs.map((r) => r.requestsPerSecond)))} | ${median(rs.map((r) => r.p50)).toFixed(3)} | ${median(rs.map((r) => r.p99)).toFixed(3)} | ${rs.reduce((n, r) => n + r.errors, 0)} |`,
  );
}
const [b, c] = [results.get('(b) minimal Node proxy'), results.get('(c) SignOnce, signed in')];
if (b && c) {
  const ratio = median(c.map((r, i) => r.requestsPerSecond / b[i]!.requestsPerSecond));
  const added = median(c.map((r, i) => r.p50 - b[i]!.p50));
  console.log(
    `\nSignOnce / minimal proxy, requests/s: ${(ratio * 100).toFixed(0)}% (median of per-round ratios; bar: >= 70%)`,
  );
  console.log(
    `SignOnce p50 - minimal proxy p50, 1 connection: ${added.toFixed(3)} ms (median of per-round differences; bar: < 1 ms)`,
  );
}
const d = results.get('(d) SignOnce, authentication token');
if (c && d) {
  console.log(
    `Token / cookie, requests/s: ${(median(d.map((r, i) => r.requestsPerSecond / c[i]!.requestsPerSecond)) * 100).toFixed(0)}% (median of per-round ratios)`,
  );
}
const e = results.get('(e) SignOnce, signed in, 20 access rules');
if (c && e) {
  console.log(
    `20 access rules / none, requests/s: ${(median(e.map((r, i) => r.requestsPerSecond / c[i]!.requestsPerSecond)) * 100).toFixed(0)}% (median of per-round ratios; bar: >= 95%)`,
  );
}

const f = results.get('(f) SignOnce, provider bearer JWT');
if (c && f) {
  console.log(
    `Provider bearer JWT / cookie, requests/s: ${(median(f.map((r, i) => r.requestsPerSecond / c[i]!.requestsPerSecond)) * 100).toFixed(0)}% (median of per-round ratios; bar: >= 90%)`,
  );
}

await gateway.close();
await idp.close();
await minimal.close();
backend.kill();
await remove();
