// Sealed provider tokens: reads/s and writes/s on SQLite and PostgreSQL, with 1,000 and then
// 100,000 accounts stored, so growth is visible. Run: npm run bench:store [-- --accounts 1000,100000
// --seconds 3 --stores sqlite,postgres]. Prints a Markdown table.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { Keyring, generateKey } from '../src/crypto/keyring.ts';
import { openStore, type ProviderTokens, type Store } from '../src/store/index.ts';
import { measure } from './measure.ts';

const { values } = parseArgs({
  options: {
    accounts: { type: 'string', default: '1000,100000' },
    seconds: { type: 'string', default: '3' },
    stores: { type: 'string', default: 'sqlite,postgres' },
  },
});
const ACCOUNT_STEPS = values.accounts
  .split(',')
  .map(Number)
  .sort((a, b) => a - b);
const SECONDS = Number(values.seconds);
const CONCURRENCY = 16;
const POSTGRES_URL = process.env.SIGNONCE_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

const token = (bytes: number) => randomBytes(bytes).toString('base64url').slice(0, bytes);
/** A realistic set: a JWT-sized access token, a refresh token, an ID token. */
const tokenSet = (): ProviderTokens => ({
  accessToken: token(1200),
  refreshToken: token(400),
  idToken: token(900),
  expiresAt: Date.now() + 3_600_000,
  tokenType: 'Bearer',
});

interface Row {
  store: string;
  accounts: number;
  op: string;
  concurrency: number;
  opsPerSecond: number;
  p50?: number;
  p99?: number;
}

/** Adds accounts (identity + token set) until `target` exist; returns their ids. */
async function populate(store: Store, ids: string[], target: number): Promise<void> {
  let next = ids.length;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < target) {
        const n = next++;
        const { account } = await store.resolveIdentity('bench', `subject-${n}`);
        await store.putTokens({ accountId: account.id, provider: 'bench', resource: '' }, tokenSet());
        ids.push(account.id);
      }
    }),
  );
}

async function benchStore(name: string, url: string, rows: Row[]): Promise<void> {
  const store = await openStore(url, { keyring: new Keyring([generateKey()]) });
  const ids: string[] = [];
  const writes = tokenSet();
  const ref = () => ({ accountId: ids[randomInt(ids.length)]!, provider: 'bench', resource: '' });
  try {
    for (const accounts of ACCOUNT_STEPS) {
      const started = performance.now();
      await populate(store, ids, accounts);
      process.stderr.write(
        `${name}: ${accounts} accounts stored (${((performance.now() - started) / 1000).toFixed(0)} s)\n`,
      );
      const read = async () => {
        if (!(await store.getTokens(ref()))) throw new Error('missing tokens');
      };
      const write = () => store.putTokens(ref(), writes);
      for (const [op, fn] of [
        ['read', read],
        ['write', write],
      ] as const) {
        for (const concurrency of [1, CONCURRENCY]) {
          const result = await measure(fn, concurrency, SECONDS);
          rows.push({
            store: name,
            accounts,
            op,
            concurrency,
            opsPerSecond: result.opsPerSecond,
            ...(concurrency === 1 ? { p50: result.p50, p99: result.p99 } : {}),
          });
        }
      }
    }
  } finally {
    await store.close();
  }
}

const rows: Row[] = [];
const stores = values.stores.split(',');
if (stores.includes('sqlite')) {
  const dir = await mkdtemp(join(tmpdir(), 'signonce-bench-'));
  try {
    await benchStore('sqlite', `sqlite:${join(dir, 'bench.db')}`, rows);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
if (stores.includes('postgres')) {
  const admin = postgres(POSTGRES_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
  const schema = `signonce_bench_${randomBytes(4).toString('hex')}`;
  try {
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    const url = new URL(POSTGRES_URL);
    url.searchParams.set('search_path', schema);
    try {
      await benchStore('postgres', url.toString(), rows);
    } finally {
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    }
  } catch (error) {
    process.stderr.write(`postgres: skipped, ${(error as Error).message} (set SIGNONCE_BENCH_POSTGRES)\n`);
  } finally {
    await admin.end();
  }
}

const ms = (v?: number) => (v === undefined ? '' : v.toFixed(3));
console.log('| store | accounts | op | concurrency | ops/s | p50 ms | p99 ms |');
console.log('|---|---:|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.store} | ${r.accounts} | ${r.op} | ${r.concurrency} | ${Math.round(r.opsPerSecond)} | ${ms(r.p50)} | ${ms(r.p99)} |`,
  );
}
// Growth: throughput at the largest size over the smallest, per store, op and concurrency (1.00 = no slow-down).
const [small, large] = [ACCOUNT_STEPS[0], ACCOUNT_STEPS.at(-1)];
if (small !== large) {
  for (const store of new Set(rows.map((r) => r.store))) {
    const ratios = rows
      .filter((r) => r.store === store && r.accounts === large)
      .map((r) => {
        const base = rows.find(
          (b) => b.store === store && b.accounts === small && b.op === r.op && b.concurrency === r.concurrency,
        )!;
        return `${r.op}×${r.concurrency} ${(r.opsPerSecond / base.opsPerSecond).toFixed(2)}`;
      });
    console.log(`${store}: throughput at ${large} / ${small} accounts: ${ratios.join(', ')}`);
  }
}
