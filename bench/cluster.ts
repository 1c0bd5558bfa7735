// Signed-in proxied requests/s with 1, 2 and 3 real `signonce serve` processes on one PostgreSQL
// (the same config but the listen port), load spread round-robin over them by autocannon in this
// process; next to 1, 2 and 3 minimal Node proxies (bench/proxy.ts) as the baseline. Each
// session.cacheTtl given is a phase of its own (the processes restarted with it): `0` reads
// PostgreSQL on every request. Scenarios of a phase alternate over rounds; medians are printed,
// with the CPU each part of the machine used, since everything shares its cores.
// Run: npm run build && npm run bench:cluster [-- --seconds 8 --rounds 3 --connections 48 --users 16 --cache-ttls 1s,0]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { request } from 'undici';
import { Keyring, generateKey } from '../src/crypto/keyring.ts';
import { openStore } from '../src/store/index.ts';
import { startInstances, type Instances } from '../test/support/instances.ts';
import { freePort } from '../test/support/ports.ts';
import { devSignIn } from '../test/support/sign-in.ts';
import { cpuOf, median, statOf, ticks } from './load.ts';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '48' },
    users: { type: 'string', default: '16' },
    'cache-ttls': { type: 'string', default: '1s,0' },
  },
});
const MAX = Number(values.instances);
const POSTGRES_URL = process.env.SIGNONCE_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const here = (file: string) => new URL(file, import.meta.url).pathname;

// autocannon has no type declarations: the little used of it, typed here.
interface Histogram {
  average: number;
  p50: number;
  p99: number;
}
interface AutocannonResult {
  requests: Histogram;
  latency: Histogram;
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Load = { method: 'GET'; path: string; headers: Record<string, string> };
const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string[];
  connections: number;
  duration: number;
  requests: Load[];
}) => Promise<AutocannonResult>;

/** A child process of ours that prints its port first (bench/backend.ts, bench/proxy.ts). */
async function child(script: string, ...args: string[]) {
  const process_ = spawn(process.execPath, [here(script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(process_.stdout, 'data')) as [Buffer];
  return { pid: process_.pid!, url: `http://127.0.0.1:${String(line).trim()}`, kill: () => process_.kill() };
}

// CPU time (ms) of the whole machine, from /proc: where the cores went (cpuOf: one process's).
/** CPU of every PostgreSQL process (server and backends; other users' too, if any), by pid. */
const postgresCpu = () =>
  new Map(
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p) && statOf(p).includes(' (postgres) '))
      .map((p) => [p, cpuOf(p)]),
  );
/** What PostgreSQL used since `before` (a backend that ended meanwhile is not counted). */
const postgresSince = (before: Map<string, number>) =>
  [...postgresCpu()].reduce((n, [pid, ms]) => n + ms - (before.get(pid) ?? 0), 0);
/** Busy time of all cores: user, nice, system, irq, softirq, steal (not idle, iowait). */
const machineCpu = () => {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  return ticks(f, 1, 4) + ticks(f, 6, 9);
};
const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Run {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpu: { servers: number; backend: number; load: number; postgres: number; other: number };
}

/** Load for `seconds` on `urls` (round-robin per connection), each connection cycling through the users. */
async function load(
  urls: string[],
  requests: Load[],
  seconds: number,
  pids: number[],
  backendPid: number,
): Promise<Run> {
  const connections = Math.ceil(Number(values.connections) / urls.length) * urls.length;
  const before = {
    servers: pids.map(cpuOf),
    backend: cpuOf(backendPid),
    load: selfCpu(),
    postgres: postgresCpu(),
    machine: machineCpu(),
    at: performance.now(),
  };
  const r = await autocannon({ url: urls, connections, duration: seconds, requests });
  const wall = performance.now() - before.at;
  const servers = pids.reduce((n, pid, i) => n + cpuOf(pid) - before.servers[i]!, 0);
  const backend = cpuOf(backendPid) - before.backend;
  const loadCpu = selfCpu() - before.load;
  const pg = postgresSince(before.postgres);
  const pct = (ms: number) => Math.round((ms / wall) * 100);
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
    cpu: {
      servers: pct(servers),
      backend: pct(backend),
      load: pct(loadCpu),
      postgres: pct(pg),
      other: pct(Math.max(0, machineCpu() - before.machine - servers - backend - loadCpu - pg)),
    },
  };
}

const sql = postgres(POSTGRES_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
const schema = `signonce_bench_${randomBytes(4).toString('hex')}`;
await sql.unsafe(`CREATE SCHEMA ${schema}`);
const storeUrl = new URL(POSTGRES_URL);
storeUrl.searchParams.set('search_path', schema);
const backend = await child('./backend.ts');
const proxies: Array<Awaited<ReturnType<typeof child>>> = [];
for (let i = 0; i < MAX; i++) proxies.push(await child('./proxy.ts', backend.url));
const ports = await Promise.all(Array.from({ length: MAX }, () => freePort()));
const appHost = `bench.localhost:${ports[0]}`;
const key = generateKey();
let instances: Instances | undefined;
const cleanUp = async () => {
  await instances?.close();
  instances = undefined;
};

/** Medians over rounds, per scenario, in the order first measured. */
const results = new Map<string, { instances: number; runs: Run[] }>();
const users: Load[] = [];
try {
  for (const ttl of values['cache-ttls'].split(',')) {
    // Phase: MAX serve processes, one config but the port; autocannon then uses the first 1..MAX.
    instances = await startInstances(ports, {
      publicUrl: `http://auth.localhost:${ports[0]}`,
      store: storeUrl.toString(),
      secrets: { encryptionKeys: [key] },
      devMode: true,
      providers: [{ id: 'dev', type: 'dev' }],
      // warn: per-request info lines would cost the instances (and fill this process's buffers).
      log: { level: 'warn' },
      session: { cacheTtl: ttl },
      apps: [{ id: 'bench', hosts: [appHost], upstream: backend.url, defaultProvider: 'dev', tokenStore: true }],
    });
    const servers = instances.processes;
    if (users.length === 0) {
      // Users sign in once (dev form, through instance 0); sessions and cookies outlive the restarts.
      const store = await openStore(storeUrl.toString(), { keyring: new Keyring([key]) });
      for (let u = 0; u < Number(values.users); u++) {
        const { ua } = await devSignIn(`http://${appHost}/`, `user${u}@example.com`);
        const { account } = await store.resolveIdentity('dev', `user${u}@example.com`);
        // Provider tokens, so X-MS-TOKEN-* headers are injected as for a real provider.
        await store.putTokens(
          { accountId: account.id, provider: 'dev', resource: '' },
          {
            accessToken: 'a'.repeat(1200),
            idToken: 'i'.repeat(900),
            refreshToken: 'r'.repeat(400),
            expiresAt: Date.now() + 3 * 3_600_000,
          },
        );
        users.push({
          method: 'GET',
          path: '/',
          headers: { host: appHost, cookie: ua.cookieHeader(new URL(`http://${appHost}/`))! },
        });
      }
      await store.close();
    }
    for (const [i, port] of ports.entries()) {
      // (undici's request: fetch would drop the Host header.)
      const check = await request(`http://127.0.0.1:${port}/`, { headers: users[0]!.headers });
      await check.body.dump();
      if (check.statusCode !== 200)
        throw new Error(`instance ${i} answered ${check.statusCode}: the signed-in session does not work`);
    }
    const scenarios: Array<[string, number, (seconds: number) => Promise<Run>]> = [];
    for (let n = 1; n <= MAX; n++) {
      // The baseline in every phase (it alternates with SignOnce); rows print medians over all of them.
      scenarios.push([
        `minimal Node proxy ×${n}`,
        n,
        (seconds) =>
          load(
            proxies.slice(0, n).map((p) => p.url),
            [{ method: 'GET', path: '/', headers: {} }],
            seconds,
            proxies.slice(0, n).map((p) => p.pid),
            backend.pid,
          ),
      ]);
      scenarios.push([
        `SignOnce ×${n}, cacheTtl ${ttl}${ttl === '1s' ? ' (default)' : ''}`,
        n,
        (seconds) =>
          load(
            ports.slice(0, n).map((p) => `http://127.0.0.1:${p}`),
            users,
            seconds,
            servers.slice(0, n).map((s) => s.child.pid!),
            backend.pid,
          ),
      ]);
    }
    // Warm-up: every process's JIT, pools and connections, before anything counts.
    for (const [, , run] of scenarios) await run(Number(values.warmup));
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const [name, instances, run] of scenarios) {
        const entry = results.get(name) ?? { instances, runs: [] };
        results.set(name, entry);
        entry.runs.push(await run(Number(values.seconds)));
      }
      process.stderr.write(`cacheTtl ${ttl}: round ${round + 1}/${values.rounds} done\n`);
    }
    await cleanUp();
  }
} finally {
  await cleanUp();
  for (const p of proxies) p.kill();
  backend.kill();
  await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
  await sql.end();
}

const rpsOf = (name: string) => median(results.get(name)!.runs.map((r) => r.rps));
const bare = rpsOf('minimal Node proxy ×1');
console.log(
  `${availableParallelism()} cores, shared by the load generator (autocannon, ${values.connections} connections, in this process), the instances, ` +
    'the backend and PostgreSQL: more instances cannot scale linearly here; the minimal proxy rows show what the machine allows.',
);
console.log(
  `Median of ${values.rounds} rounds of ${values.seconds} s; latency under that load (autocannon: whole ms). CPU: % of one core during the run (rest: kernel, other processes on the machine).\n`,
);
console.log(
  '| scenario | instances | requests/s | p50 ms | p99 ms | vs ×1 | vs minimal proxy ×1 | CPU % instances / backend / load gen / PostgreSQL / rest | errors |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---|---:|');
// Grouped: the minimal proxy, then SignOnce per cacheTtl; 1..MAX instances each.
const kinds = [...new Set([...results.keys()].map((name) => name.replace(/×\d+/, '×N')))];
for (const name of kinds.flatMap((kind) => Array.from({ length: MAX }, (_, i) => kind.replace('×N', `×${i + 1}`)))) {
  const { instances, runs } = results.get(name)!;
  const rps = median(runs.map((r) => r.rps));
  const one = rpsOf(name.replace(/×\d+/, '×1'));
  const cpu = (k: keyof Run['cpu']) => Math.round(median(runs.map((r) => r.cpu[k])));
  console.log(
    `| ${name} | ${instances} | ${Math.round(rps)} | ${median(runs.map((r) => r.p50))} | ${median(runs.map((r) => r.p99))} | ` +
      `${(rps / one).toFixed(2)} | ${(rps / bare).toFixed(2)} | ${cpu('servers')} / ${cpu('backend')} / ${cpu('load')} / ${cpu('postgres')} / ${cpu('other')} | ${runs.reduce((n, r) => n + r.errors, 0)} |`,
  );
}
const busy = [...results.values()].flatMap((r) => r.runs).filter((r) => r.cpu.other > 20).length;
if (busy)
  console.log(
    `\n${busy} of the runs had more than 20% of a core used by others (rest): numbers of a busy machine; run again when it is quiet.`,
  );
