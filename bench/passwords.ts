// Local sign-in timing: whether the time of an answer tells if a user exists. Known users with a
// wrong password, unknown users, and the right password, interleaved in one run against a real
// SQLite store (throttling stays out of the way: few attempts per user, a new address each time).
// Run: npm run bench:passwords [-- --rounds 40]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalAccounts } from '../src/accounts/local-accounts.ts';
import { Keyring, generateKey } from '../src/crypto/keyring.ts';
import { openStore } from '../src/store/index.ts';
import { tempDir } from '../test/support/tmp.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '40' } } });
const rounds = Number(values.rounds);
const PASSWORD = 'a long and unusual passphrase';

const { dir, remove } = await tempDir('signonce-bench-');
const store = await openStore(`sqlite:${join(dir, 'signonce.db')}`, { keyring: new Keyring([generateKey()]) });
const accounts = new LocalAccounts(store);
const users = Array.from({ length: Math.ceil(rounds / 4) }, (_, i) => `user${i}`);
for (const user of users) await accounts.register('local', user, PASSWORD, 12);

const samples: Record<string, number[]> = {
  'known user, wrong password': [],
  'unknown user': [],
  'known user, right password': [],
};
let address = 0;
const timed = async (kind: string, username: string, password: string) => {
  const started = performance.now();
  await accounts.signIn('local', username, password, `10.0.${Math.floor(address / 250)}.${address++ % 250}`);
  samples[kind]!.push(performance.now() - started);
};
await timed('unknown user', 'warm-up', PASSWORD); // the dummy hash is made on first use
samples['unknown user']!.length = 0;
for (let i = 0; i < rounds; i++) {
  const user = users[i % users.length]!;
  await timed('known user, wrong password', user, `wrong guess ${i}`);
  await timed('unknown user', `nobody${i}`, `wrong guess ${i}`);
  await timed('known user, right password', user, PASSWORD);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const base = median(samples['known user, wrong password']!);
console.log(
  `| local sign-in (${rounds} each, interleaved) | median ms | p90 ms | vs wrong password |\n|---|---:|---:|---:|`,
);
for (const [kind, times] of Object.entries(samples)) {
  const p90 = [...times].sort((a, b) => a - b)[Math.floor(times.length * 0.9)]!;
  console.log(`| ${kind} | ${median(times).toFixed(1)} | ${p90.toFixed(1)} | ${(median(times) / base).toFixed(2)} |`);
}
await store.close();
await remove();
