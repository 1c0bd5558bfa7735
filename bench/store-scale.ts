// The PostgreSQL store at up to 1,000,000 accounts: reads/s and writes/s through the real Store API
// (getTokens, getSession, findIdentity, putTokens) at each size, and the tables' size on disk.
// Accounts are seeded in bulk (COPY, rows generated here in the exact format SqlStore writes:
// values sealed by the real Keyring under the same bindings, secrets stored as SHA-256 hashes), since
// a million sign-ins through the API would take hours. Each account has an identity (with its
// sealed profile), a sealed provider token set and a live session.
// Run: npm run bench:store-scale [-- --accounts 1000,100000,1000000 --seconds 3 --rotate]
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { Keyring, generateKey } from '../src/crypto/keyring.ts';
import { toClaims } from '../src/providers/claims.ts';
import { openStore, type ProviderTokens, type ResealPosition } from '../src/store/index.ts';
import { measure } from './measure.ts';

const { values } = parseArgs({
  options: {
    accounts: { type: 'string', default: '1000,100000,1000000' },
    seconds: { type: 'string', default: '3' },
    // Then re-seal everything under a new encryption key (`signonce keys rotate`), timed.
    rotate: { type: 'boolean', default: false },
  },
});
const STEPS = values.accounts
  .split(',')
  .map(Number)
  .sort((a, b) => a - b);
const SECONDS = Number(values.seconds);
const CONCURRENCY = 16;
const POSTGRES_URL = process.env.SIGNONCE_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const PROVIDER = 'bench';

// Everything about account i is derived from i, so nothing a million long is kept in memory.
const seed = randomBytes(8).toString('hex');
const hash = (text: string) => createHash('sha256').update(text).digest();
const accountId = (i: number) => {
  const h = hash(`${seed}:account:${i}`).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`; // shaped like randomUUID()
};
const subject = (i: number) => `subject-${i}@example.com`;
const sessionSecret = (i: number) => hash(`${seed}:session:${i}`).toString('base64url'); // 32 bytes, as SqlStore's
const secretHash = (secret: string) => createHash('sha256').update(secret).digest('base64url');

// A realistic token set (the sizes of bench/store.ts): a JWT-sized access token, refresh and ID tokens.
const filler = (bytes: number) => randomBytes(bytes).toString('base64url').slice(0, bytes);
const [access, refresh, id] = [filler(1200), filler(400), filler(900)];
const tokenSet = (i: number): ProviderTokens => ({
  accessToken: `${i}.${access}`,
  refreshToken: `${i}.${refresh}`,
  idToken: `${i}.${id}`,
  expiresAt: Date.now() + 3_600_000,
  tokenType: 'Bearer',
});
const claimsOf = (i: number) => toClaims({ sub: subject(i), name: `User ${i}`, email: subject(i) });

const key = generateKey();
const keyring = new Keyring([key]);

/**
 * Rows of accounts [from, to) for one table, as COPY text (tab-separated; our values hold no tab,
 * newline or backslash), sealed with the bindings SqlStore uses.
 */
function* rows(table: string, from: number, to: number): Generator<string> {
  const now = Date.now();
  for (let start = from; start < to; start += 1000) {
    let chunk = '';
    for (let i = start; i < Math.min(to, start + 1000); i++) {
      const account = accountId(i);
      if (table === 'accounts') chunk += `${account}\t${now}\n`;
      if (table === 'identities') {
        const profile = keyring.seal(JSON.stringify({ name: `User ${i}`, claims: claimsOf(i) }), {
          purpose: 'identity-profile',
          owner: [PROVIDER, subject(i)],
        });
        chunk += `${PROVIDER}\t${subject(i)}\t${account}\t${now}\t${profile}\n`;
      }
      if (table === 'provider_tokens') {
        const tokens = tokenSet(i);
        const sealed = keyring.seal(JSON.stringify(tokens), {
          purpose: 'provider-tokens',
          owner: [account, PROVIDER, ''],
        });
        chunk += `${account}\t${PROVIDER}\t\t${sealed}\t${tokens.expiresAt}\t${now}\n`;
      }
      if (table === 'sessions') {
        const idHash = secretHash(sessionSecret(i));
        const data = {
          user: { provider: PROVIDER, subject: subject(i), name: subject(i), claims: claimsOf(i) },
          app: 'bench',
        };
        const sealed = keyring.seal(JSON.stringify(data), { purpose: 'session', owner: [idHash, account] });
        chunk += `${idHash}\t${account}\t${sealed}\t${now}\t${now + 30 * 86_400_000}\t${keyring.primaryKeyId}\n`;
      }
    }
    yield chunk;
  }
}
const COLUMNS: Record<string, string> = {
  accounts: 'id, created_at',
  identities: 'provider, subject, account_id, created_at, sealed_profile',
  provider_tokens: 'account_id, provider, resource, sealed, expires_at, updated_at',
  sessions: 'id_hash, account_id, sealed_data, created_at, expires_at, issued_under_key',
};

const admin = postgres(POSTGRES_URL, { max: 4, onnotice: () => undefined, connect_timeout: 5 });
const schema = `signonce_bench_${randomBytes(4).toString('hex')}`;
await admin.unsafe(`CREATE SCHEMA ${schema}`);
const url = new URL(POSTGRES_URL);
url.searchParams.set('search_path', schema);
const sql = postgres(url.toString(), { max: 3, onnotice: () => undefined, connection: { synchronous_commit: 'off' } });

interface Result {
  accounts: number;
  op: string;
  concurrency: number;
  opsPerSecond: number;
  p50: number;
  p99: number;
}
const results: Result[] = [];
const sizes: Array<{
  accounts: number;
  seedSeconds: number;
  vacuumSeconds: number;
  bytes: Record<string, number>;
  buffers: Record<string, { hit: number; read: number }>;
}> = [];
const store = await openStore(url.toString(), { keyring });
let rotation: { values: number; seconds: number } | undefined;
try {
  let seeded = 0;
  for (const accounts of STEPS) {
    // Seed: accounts first (the others reference them), then the three others at once.
    const started = performance.now();
    const copy = async (table: string) =>
      pipeline(
        Readable.from(rows(table, seeded, accounts)),
        await sql.unsafe(`COPY ${table} (${COLUMNS[table]}) FROM STDIN`).writable(),
      );
    await copy('accounts');
    await Promise.all(['identities', 'provider_tokens', 'sessions'].map(copy));
    const seedSeconds = (performance.now() - started) / 1000;
    process.stderr.write(
      `${accounts} accounts seeded (${(accounts - seeded).toLocaleString('en')} new, ${seedSeconds.toFixed(0)} s); vacuum and analyze...\n`,
    );
    // Steady state before measuring: as autovacuum would leave the tables (hint bits set, statistics
    // known), and the load's dirty pages written out (else the checkpoint writes them meanwhile).
    const vacuumStarted = performance.now();
    await sql.unsafe('VACUUM (ANALYZE) accounts, identities, provider_tokens, sessions');
    await sql.unsafe('CHECKPOINT');
    const vacuumSeconds = (performance.now() - vacuumStarted) / 1000;
    seeded = accounts;
    const [row] = await sql<Array<Record<string, string>>>`SELECT
      pg_total_relation_size('accounts') AS accounts, pg_total_relation_size('identities') AS identities,
      pg_total_relation_size('provider_tokens') AS provider_tokens, pg_total_relation_size('sessions') AS sessions`;
    sizes.push({
      accounts,
      seedSeconds,
      vacuumSeconds,
      bytes: Object.fromEntries(Object.entries(row!).map(([k, v]) => [k, Number(v)])),
      buffers: {},
    });
    // Where a lookup's time goes: the pages it touches (index levels, heap, TOAST), and how many of
    // them were not in shared_buffers (read from the OS). md5() makes the sealed value be fetched.
    const lookups: Array<[string, string, (i: number) => string[]]> = [
      [
        'provider_tokens',
        "SELECT md5(sealed) FROM provider_tokens WHERE account_id = $1 AND provider = $2 AND resource = ''",
        (i) => [accountId(i), PROVIDER],
      ],
      ['sessions', 'SELECT md5(sealed_data) FROM sessions WHERE id_hash = $1', (i) => [secretHash(sessionSecret(i))]],
      [
        'identities',
        'SELECT md5(sealed_profile) FROM identities WHERE provider = $2 AND subject = $1',
        (i) => [subject(i), PROVIDER],
      ],
    ];
    for (const [table, query, params] of lookups) {
      let [hit, read] = [0, 0];
      for (let k = 0; k < 100; k++) {
        const [
          {
            'QUERY PLAN': [{ Plan: plan }],
          },
        ] = (await sql.unsafe(
          `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${query}`,
          params(randomInt(accounts)),
        )) as unknown as [{ 'QUERY PLAN': [{ Plan: { 'Shared Hit Blocks': number; 'Shared Read Blocks': number } }] }];
        hit += plan['Shared Hit Blocks'];
        read += plan['Shared Read Blocks'];
      }
      sizes.at(-1)!.buffers[table] = { hit: hit / 100, read: read / 100 };
    }

    const some = () => randomInt(accounts);
    const ops: Array<[string, () => Promise<unknown>]> = [
      [
        'getTokens',
        async () => {
          if (!(await store.getTokens({ accountId: accountId(some()), provider: PROVIDER, resource: '' })))
            throw new Error('no tokens');
        },
      ],
      [
        'getSession',
        async () => {
          if (!(await store.getSession(sessionSecret(some())))) throw new Error('no session');
        },
      ],
      [
        'findIdentity',
        async () => {
          if (!(await store.findIdentity(PROVIDER, subject(some())))) throw new Error('no identity');
        },
      ],
      [
        'putTokens',
        () => {
          const i = some();
          return store.putTokens({ accountId: accountId(i), provider: PROVIDER, resource: '' }, tokenSet(i));
        },
      ],
    ];
    for (const [op, fn] of ops) {
      for (const concurrency of [1, CONCURRENCY])
        results.push({ accounts, op, concurrency, ...(await measure(fn, concurrency, SECONDS)) });
      process.stderr.write(`${accounts}: ${op} measured\n`);
    }
  }
  if (values.rotate) {
    // As `signonce keys rotate` does it, with a new key put first: batches of 500 in key order.
    const rotating = await openStore(url.toString(), { keyring: new Keyring([generateKey(), key]) });
    try {
      const started = performance.now();
      let resealed = 0;
      for (let position: ResealPosition | undefined, first = true; first || position; first = false) {
        const batch = await rotating.resealBatch(500, position);
        resealed += batch.values;
        position = batch.next;
      }
      rotation = { values: resealed, seconds: (performance.now() - started) / 1000 };
    } finally {
      await rotating.close();
    }
  }
} finally {
  await store.close();
  await sql.end();
  await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}

const mb = (bytes: number) => (bytes / 1_048_576).toFixed(bytes < 10_485_760 ? 1 : 0);
console.log('PostgreSQL store, tables on disk (pg_total_relation_size: table, TOAST and indexes), MB:\n');
console.log(
  '| accounts | provider_tokens | sessions | identities | accounts | total | seeded in | vacuum, analyze, checkpoint |',
);
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const s of sizes) {
  const total = Object.values(s.bytes).reduce((a, b) => a + b, 0);
  console.log(
    `| ${s.accounts.toLocaleString('en')} | ${mb(s.bytes.provider_tokens!)} | ${mb(s.bytes.sessions!)} | ${mb(s.bytes.identities!)} | ${mb(s.bytes.accounts!)} | ${mb(total)} | ${s.seedSeconds.toFixed(0)} s | ${s.vacuumSeconds.toFixed(0)} s |`,
  );
}
console.log(
  '\nPages one lookup touches (EXPLAIN ANALYZE BUFFERS, mean of 100 random keys): in shared_buffers + read from the OS:\n',
);
console.log('| accounts | provider_tokens (with TOAST) | sessions | identities |');
console.log('|---:|---:|---:|---:|');
for (const s of sizes) {
  const b = (table: string) => `${s.buffers[table]!.hit.toFixed(1)} + ${s.buffers[table]!.read.toFixed(1)}`;
  console.log(
    `| ${s.accounts.toLocaleString('en')} | ${b('provider_tokens')} | ${b('sessions')} | ${b('identities')} |`,
  );
}
console.log(`\nStore API on PostgreSQL, random account/session each call; ${SECONDS} s per row:\n`);
console.log('| accounts | op | concurrency | ops/s | p50 ms | p99 ms |');
console.log('|---:|---|---:|---:|---:|---:|');
for (const r of results) {
  console.log(
    `| ${r.accounts.toLocaleString('en')} | ${r.op} | ${r.concurrency} | ${Math.round(r.opsPerSecond)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} |`,
  );
}
// Growth: throughput at each size over the smallest (1.00 = no slow-down).
const smallest = STEPS[0]!;
for (const accounts of STEPS.slice(1)) {
  const ratios = results
    .filter((r) => r.accounts === accounts)
    .map((r) => {
      const base = results.find((b) => b.accounts === smallest && b.op === r.op && b.concurrency === r.concurrency)!;
      return `${r.op}×${r.concurrency} ${(r.opsPerSecond / base.opsPerSecond).toFixed(2)}`;
    });
  console.log(
    `\nops/s at ${accounts.toLocaleString('en')} / ${smallest.toLocaleString('en')} accounts: ${ratios.join(', ')}`,
  );
}
if (rotation) {
  console.log(
    `\nkeys rotate at ${STEPS.at(-1)!.toLocaleString('en')} accounts: ${rotation.values.toLocaleString('en')} values re-sealed in ${rotation.seconds.toFixed(0)} s (${(rotation.values / rotation.seconds).toFixed(0)} values/s, batches of 500 in key order)`,
  );
}
