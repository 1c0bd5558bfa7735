// Forward-auth against the alternatives, in one run with one load generator:
// (a) nginx -> the backend, no authentication (the snippet's app upstream and proxy settings:
//     HTTP/1.1, keepalive 64, the same forwarded headers, no auth_request);
// (b) nginx with the configuration `signonce snippet nginx` prints (snippetFor) for a forward-auth
//     app: auth_request to SignOnce's /.auth/verify before each request, then the backend, with a
//     signed-in session cookie and stored provider tokens (so X-MS-TOKEN-* headers flow too);
// (c) SignOnce's proxy mode -> the backend, the same user and tokens;
// (d) Caddy with `signonce snippet caddy` (forward_auth), as (b).
// Each at two answer sizes: the backend's small JSON and 64 KB. The goals (issue): (b) >= 0.5 x (a)
// in requests/s, and (b) above (c).
// What is measured: requests/s with many connections (autocannon, in another process); the
// latency one request pays without queueing (bench/latency.ts: one connection, one request at a
// time); and the CPU time per request of each process (utime + stime from /proc/<pid>/stat
// before and after each autocannon run, over the requests it completed): nginx (one process,
// master_process off, so one core at most), Caddy (all its threads), SignOnce (a real `signonce
// serve` in a process of its own, from dist/: hence the build first), the backend (one process,
// bench/backend.ts). Processes a scenario does not pass through show their idle CPU (about 0).
// Scenarios alternate over rounds, every other round in reverse order; the table shows medians,
// and the ratios are medians of per-round ratios. Everything, the load generator too, shares this
// machine's cores: expect noise, and read the CPU columns for what each request costs.
// Run: npm run bench:forward-auth [-- --rounds 3 --seconds 3 --connections 32 --latency-seconds 1 --scenarios a,b,c,d]
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { snippetFor } from '../src/cli/snippet.ts';
import { parseConfig } from '../src/config/index.ts';
import { generateKey } from '../src/crypto/keyring.ts';
import { startInstances, type Instances } from '../test/support/instances.ts';
import { freePort } from '../test/support/ports.ts';
import { caddyAvailable, startCaddy, startNginx, type RunningProxy } from '../test/support/proxies.ts';
import { tempDir } from '../test/support/tmp.ts';
import { UserAgent } from '../test/support/user-agent.ts';
import { cpuOf, latency, median, startBackend, storeBenchTokens, throughput } from './load.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    // Of each one-connection latency run (p50 at about 1 ms: a second is hundreds of samples).
    'latency-seconds': { type: 'string', default: '1' },
    // d (Caddy) is left out when Caddy is not installed.
    scenarios: { type: 'string', default: 'a,b,c,d' },
  },
});
const ROUNDS = Number(values.rounds);
const SIZES = [
  { name: 'small', path: '/', bytes: 0 },
  { name: '64 KB', path: '/bytes/65536', bytes: 65536 },
];

// Everything started is stopped, and every folder removed, however the run ends.
let backend: Awaited<ReturnType<typeof startBackend>> | undefined;
let instances: Instances | undefined;
let nginx: RunningProxy | undefined;
let caddy: RunningProxy | undefined;
let removeDir: (() => Promise<void>) | undefined;
let cleaning: Promise<void> | undefined;
const cleanUp = () => {
  cleaning ??= (async () => {
    await Promise.allSettled([nginx?.close(), caddy?.close(), instances?.close()]);
    backend?.kill();
    await removeDir?.();
  })();
  return cleaning;
};
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    process.stderr.write(`${signal}: stopping what the bench started\n`);
    void cleanUp().then(() => process.exit(130));
  });

interface Scenario {
  key: string;
  name: string;
  url: string;
  headers: Record<string, string>;
}
interface Run {
  requestsPerSecond: number;
  p50: number;
  errors: number;
  /** CPU ms per completed request, by process. */
  cpu: Record<string, number>;
}

try {
  backend = await startBackend();

  // SignOnce: a proxy-mode app and a forward-auth app, the dev provider, tokens stored.
  const port = await freePort();
  const tmp = await tempDir('signonce-bench-forward-auth-');
  removeDir = tmp.remove;
  const key = generateKey();
  const store = `sqlite:${join(tmp.dir, 'signonce.db')}`;
  const config = {
    publicUrl: `http://auth.localhost:${port}`,
    store,
    secrets: { encryptionKeys: [key] },
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    // warn: per-request info lines would cost SignOnce (and fill this process's buffers).
    log: { level: 'warn' },
    // The proxies on loopback ask /.auth/verify.
    trustedProxies: ['127.0.0.1'],
    apps: [
      {
        id: 'proxied',
        hosts: [`proxied.localhost:${port}`],
        upstream: backend.url,
        defaultProvider: 'dev',
        tokenStore: true,
      },
      // Any port: nginx's and Caddy's, chosen when they start.
      {
        id: 'fa',
        mode: 'forwardAuth',
        hosts: ['fa.localhost'],
        upstream: backend.url,
        defaultProvider: 'dev',
        tokenStore: true,
      },
    ],
  };
  instances = await startInstances([port], config);
  const signonce = instances.processes[0]!.child.pid!;

  // The proxies, with the snippets as printed, their `listen 80` bound to a loopback port.
  const parsed = parseConfig(stringify({ ...config, listen: { host: '127.0.0.1', port } }), 'bench', {});
  const snippet = (kind: 'nginx' | 'caddy') => {
    const printed = snippetFor(kind, parsed, 'fa', { listen: 80 });
    if (!('text' in printed)) throw new Error(printed.problem);
    return printed.text;
  };
  const backendHostPort = new URL(backend.url).host;
  nginx = await startNginx(
    `${snippet('nginx').replace(/^ {4}listen 80;$/m, '    listen 127.0.0.1:{{port}};')}
# (a) No authentication: the snippet's app upstream and proxy settings, without auth_request.
upstream plain_backend {
    server ${backendHostPort};
    keepalive 64;
}
map $http_upgrade $plain_connection {
    default upgrade;
    "" "";
}
server {
    listen 127.0.0.1:{{port}};
    server_name plain.localhost;
    location / {
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $plain_connection;
        proxy_pass http://plain_backend;
    }
}
`,
  );
  const wanted = values.scenarios.split(',');
  if (wanted.includes('d') && caddyAvailable())
    caddy = await startCaddy(snippet('caddy').replaceAll(':80 {', ':{{port}} {'));
  else if (wanted.includes('d')) process.stderr.write('caddy not found: scenario (d) left out\n');

  // Signed in at the forward-auth app's host as each proxy serves it (a session cookie is sealed for
  // its host and port), on SignOnce directly (it serves that host's /.auth/*); Caddy's and the
  // proxy-mode app's by single sign-on: one user, one account, one set of provider tokens.
  const ua = new UserAgent();
  ua.via = () => port;
  const faHost = (proxy: RunningProxy) => `fa.localhost:${proxy.port}`;
  const signInAt = (host: string) => ua.navigate(`http://${host}/.auth/login/dev?post_login_redirect_uri=/.auth/me`);
  const form = await signInAt(faHost(nginx));
  const landed = await ua.submitForm(form.url, await form.text(), { user_id: 'bench@example.com' });
  if (landed.status !== 200) throw new Error(`sign-in at the forward-auth app ended with ${landed.status}`);
  await landed.cancel();
  if (caddy) await (await signInAt(faHost(caddy))).cancel();
  await (await ua.navigate(`http://proxied.localhost:${port}/`)).cancel();
  const cookieAt = (host: string) => ua.cookieHeader(new URL(`http://${host}/`))!;
  const { store: tokens } = await storeBenchTokens(store, key);
  await tokens.close();
  // Until SignOnce's signed-in cache (session.cacheTtl, 1 s) forgets the sign-in's users, who had no tokens yet.
  await sleep(1500);

  const scenarios = (
    [
      {
        key: 'a',
        name: '(a) nginx, no auth',
        url: nginx.url,
        headers: { host: `plain.localhost:${nginx.port}` },
      },
      {
        key: 'b',
        name: '(b) nginx auth_request -> SignOnce',
        url: nginx.url,
        headers: { host: faHost(nginx), cookie: cookieAt(faHost(nginx)) },
      },
      {
        key: 'c',
        name: '(c) SignOnce proxy mode',
        url: `http://127.0.0.1:${port}`,
        headers: { host: `proxied.localhost:${port}`, cookie: cookieAt(`proxied.localhost:${port}`) },
      },
      ...(caddy
        ? [
            {
              key: 'd',
              name: '(d) Caddy forward_auth -> SignOnce',
              url: caddy.url,
              headers: { host: faHost(caddy), cookie: cookieAt(faHost(caddy)) },
            },
          ]
        : []),
    ] as Scenario[]
  ).filter((s) => wanted.includes(s.key));

  // Each scenario works: the backend gets the identity and token headers where a user is signed in
  // (and none in (a)), and the 64 KB answer whole.
  for (const s of scenarios) {
    const seen = await request(`${s.url}/headers`, { headers: s.headers });
    const got = (await seen.body.json()) as Record<string, string>;
    const signedIn = got['x-ms-client-principal-name'] === 'bench@example.com';
    const withTokens = got['x-ms-token-dev-access-token'] === 'a'.repeat(1200);
    if (seen.statusCode !== 200 || (s.key === 'a' ? signedIn : !(signedIn && withTokens)))
      throw new Error(`${s.name}: ${seen.statusCode}, the backend got ${JSON.stringify(got)}`);
    const large = await request(`${s.url}/bytes/65536`, { headers: s.headers });
    const bytes = (await large.body.arrayBuffer()).byteLength;
    if (large.statusCode !== 200 || bytes !== 65536) throw new Error(`${s.name}: ${large.statusCode}, ${bytes} bytes`);
  }

  const processes: Record<string, number> = {
    nginx: nginx.pid,
    ...(caddy ? { Caddy: caddy.pid } : {}),
    SignOnce: signonce,
    backend: backend.pid,
  };
  /** Requests/s with CPU per request of each process, then the one-connection latency. */
  async function measured(s: Scenario, path: string): Promise<Run> {
    const before = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, cpuOf(pid)]));
    const many = await throughput(`${s.url}${path}`, s.headers, values);
    const cpu = Object.fromEntries(
      Object.entries(processes).map(([name, pid]) => [name, (cpuOf(pid) - before[name]!) / many.requests]),
    );
    const one = await latency(`${s.url}${path}`, s.headers, values['latency-seconds']);
    return { requestsPerSecond: many.requestsPerSecond, p50: one.p50, errors: many.errors + one.errors, cpu };
  }

  const runs = SIZES.flatMap((size) => scenarios.map((s) => ({ size, s, id: `${size.name} ${s.key}` })));
  for (const { size, s } of runs) await throughput(`${s.url}${size.path}`, s.headers, { ...values, seconds: 1 }); // warm-up
  const results = new Map<string, Run[]>(runs.map(({ id }) => [id, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // Every other round in reverse order: no scenario always runs just after another one's load.
    for (const { size, s, id } of round % 2 ? [...runs].reverse() : runs)
      results.get(id)!.push(await measured(s, size.path));
    process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
  }

  const names = Object.keys(processes);
  console.log(
    `\nrequests/s: ${values.connections} connections, ${values.seconds} s, median of ${ROUNDS} rounds; p50: 1 connection, one request at a time; CPU: ms per request, median\n`,
  );
  console.log(
    `| answer | scenario | requests/s | p50 ms | ${names.map((n) => `CPU ${n}`).join(' | ')} | CPU all | errors |`,
  );
  console.log(`|---|---|---:|---:|${names.map(() => '---:|').join('')}---:|---:|`);
  for (const { size, s, id } of runs) {
    const rs = results.get(id)!;
    const cpu = names.map((n) => median(rs.map((r) => r.cpu[n]!)));
    const all = median(rs.map((r) => names.reduce((sum, n) => sum + r.cpu[n]!, 0)));
    console.log(
      `| ${size.name} | ${s.name} | ${Math.round(median(rs.map((r) => r.requestsPerSecond)))} | ${median(rs.map((r) => r.p50)).toFixed(3)} | ${cpu.map((ms) => ms.toFixed(3)).join(' | ')} | ${all.toFixed(3)} | ${rs.reduce((n, r) => n + r.errors, 0)} |`,
    );
  }
  /** Median of per-round ratios of requests/s, `x` over `y`, at one size; undefined when either was not run. */
  const ratio = (size: string, x: string, y: string) => {
    const [xs, ys] = [results.get(`${size} ${x}`), results.get(`${size} ${y}`)];
    return xs && ys ? median(xs.map((r, i) => r.requestsPerSecond / ys[i]!.requestsPerSecond)) : undefined;
  };
  console.log('');
  for (const size of SIZES) {
    const lines: Array<[string, string, string, number]> = [
      ['b', 'a', 'forward-auth (b) / nginx no auth (a)', 0.5],
      ['b', 'c', 'forward-auth (b) / SignOnce proxy mode (c)', 1],
      ['d', 'a', 'Caddy forward-auth (d) / nginx no auth (a)', Number.NaN],
      ['d', 'c', 'Caddy forward-auth (d) / SignOnce proxy mode (c)', Number.NaN],
    ];
    for (const [x, y, text, goal] of lines) {
      const r = ratio(size.name, x, y);
      if (r === undefined) continue;
      const verdict = Number.isNaN(goal)
        ? ''
        : goal === 1
          ? `; goal > 100%: ${r > 1 ? 'met' : 'NOT met'}`
          : `; goal >= ${goal * 100}%: ${r >= goal ? 'met' : 'NOT met'}`;
      console.log(`${size.name}: ${text}, requests/s: ${(r * 100).toFixed(0)}% (median of per-round ratios${verdict})`);
    }
  }
} finally {
  await cleanUp();
}
