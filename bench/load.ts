// What the HTTP benchmarks share: the app behind the proxies (bench/backend.ts) in a process of its
// own, load from other processes (autocannon with many connections for requests/s; bench/latency.ts
// with one connection and one request at a time for the latency a request pays without queueing),
// the CPU time a process has used (from /proc), medians, and the signed-in user's stored tokens.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { Keyring } from '../src/crypto/keyring.ts';
import { openStore } from '../src/store/index.ts';

const execFileAsync = promisify(execFile);
const here = (file: string) => new URL(file, import.meta.url).pathname;

/** bench/backend.ts in a process of its own (killed when this one exits); its URL and pid. */
export async function startBackend(): Promise<{ url: string; pid: number; kill(): void }> {
  const backend = spawn(process.execPath, [here('./backend.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = () => backend.kill();
  process.on('exit', kill);
  const [portLine] = (await once(backend.stdout!, 'data')) as [Buffer];
  return { url: `http://127.0.0.1:${String(portLine).trim()}`, pid: backend.pid!, kill };
}

export interface LoadOptions {
  connections: string | number;
  seconds: string | number;
}

/** autocannon in another process: requests/s (its average), requests completed, errors and non-2xx answers. */
export async function throughput(url: string, headers: Record<string, string>, options: LoadOptions) {
  const args = [
    '-j',
    '-c',
    String(options.connections),
    '-d',
    String(options.seconds),
    ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]),
    url,
  ];
  const { stdout } = await execFileAsync(here('../node_modules/.bin/autocannon'), args, { maxBuffer: 1 << 24 });
  const result = JSON.parse(stdout);
  return {
    requestsPerSecond: result.requests.average as number,
    requests: result.requests.total as number,
    errors: (result.errors + result.non2xx) as number,
  };
}

/** bench/latency.ts in another process: p50/p99 in ms with one connection, one request at a time. */
export async function latency(
  url: string,
  headers: Record<string, string>,
  seconds: string | number,
): Promise<{ requests: number; p50: number; p99: number; errors: number }> {
  const { stdout } = await execFileAsync(process.execPath, [
    here('./latency.ts'),
    url,
    String(seconds),
    JSON.stringify(headers),
  ]);
  return JSON.parse(stdout);
}

export interface Result {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Requests/s under `options.connections` connections, then the latency with one. */
export async function load(url: string, headers: Record<string, string>, options: LoadOptions): Promise<Result> {
  const many = await throughput(url, headers, options);
  const one = await latency(url, headers, options.seconds);
  return { requestsPerSecond: many.requestsPerSecond, p50: one.p50, p99: one.p99, errors: many.errors + one.errors };
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// CPU time (ms) of a process from /proc. (Clock ticks of 10 ms: USER_HZ is 100 on Linux.)
export const ticks = (fields: string[], from: number, to: number) =>
  fields.slice(from, to).reduce((n, f) => n + Number(f), 0) * 10;
export const statOf = (pid: number | string) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return '';
  }
};
/** utime + stime of a process (all its threads), in ms; 0 once it is gone. */
export const cpuOf = (pid: number | string) => {
  const stat = statOf(pid);
  return stat ? ticks(stat.split(') ')[1]!.split(' '), 11, 13) : 0;
};

/**
 * Stores provider tokens of the usual sizes (a 1,200-character access token, an ID token, a refresh
 * token, an hour left) for the `dev` user the benches sign in, so X-MS-TOKEN-* headers flow; the
 * store, still open, for more setup (the caller closes it), and the user's account id.
 */
export async function storeBenchTokens(storeUrl: string, key: string, user = 'bench@example.com') {
  const store = await openStore(storeUrl, { keyring: new Keyring([key]) });
  const { account } = await store.resolveIdentity('dev', user);
  await store.putTokens(
    { accountId: account.id, provider: 'dev', resource: '' },
    {
      accessToken: 'a'.repeat(1200),
      idToken: 'i'.repeat(900),
      refreshToken: 'r'.repeat(400),
      expiresAt: Date.now() + 3_600_000,
    },
  );
  return { store, accountId: account.id };
}
