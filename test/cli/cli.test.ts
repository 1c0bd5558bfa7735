import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { decodeKey, generateKey } from '../../src/crypto/keyring.ts';
import { runCli, start } from '../support/cli.ts';
import { tempDir } from '../support/tmp.ts';

async function configFile(yaml: string): Promise<{ file: string; dir: string }> {
  const { dir, remove } = await tempDir();
  after(remove);
  const file = join(dir, 'signonce.yaml');
  await writeFile(file, yaml);
  return { file, dir };
}

test('keys generate prints a new 256-bit base64url key each time', async () => {
  const [a, b] = await Promise.all([runCli(['keys', 'generate']), runCli(['keys', 'generate'])]);
  assert.equal(a.code, 0);
  assert.equal(decodeKey(a.stdout.trim())?.length, 32);
  assert.notEqual(a.stdout, b.stdout);
  assert.equal((await runCli(['keys'])).code, 2);
});

test('unknown commands and options are usage errors (exit 2); --help lists the commands', async () => {
  const unknown = await runCli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  for (const command of ['serve', 'demo', 'check', 'keys generate']) assert.match(help.stdout, new RegExp(`signonce ${command}`));
  const badFlag = await runCli(['serve', '--confg', 'x.yaml']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /--confg/);
});

test('serve refuses a broken config with every problem listed, exit 2', async () => {
  const { file } = await configFile('publicUrl: ftp://auth\nsecrets: { encryptionKeys: [short] }\n');
  const result = await runCli(['serve', '--config', file]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /publicUrl/);
  assert.match(result.stderr, /secrets\.encryptionKeys\[0\]/);
  const missing = await runCli(['serve'], { SIGNONCE_CONFIG: join(file, '..', 'nope.yaml') });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.yaml/);
});

test('serve answers probes, finishes a request in flight on SIGTERM, closes the store and exits 0', async () => {
  const { file, dir } = await configFile([
    'publicUrl: http://auth.localhost:8080',
    'listen: { host: 127.0.0.1, port: 0 }',
    `store: sqlite:${join('data', 'signonce.db')}`,
    'secrets: { encryptionKeys: ["${TEST_KEY}"] }',
  ].join('\n'));
  const server = start(['serve', '--config', file], { TEST_KEY: generateKey() });
  const listening = JSON.parse(await server.waitForLine(/"msg":"listening/));
  const url = new URL(listening.url);
  assert.equal((await fetch(new URL('/healthz', url))).status, 200);
  assert.equal((await fetch(new URL('/readyz', url))).status, 200);

  // A request whose body is still arriving when the signal comes must still get its answer.
  const socket = connect(Number(url.port), url.hostname);
  await new Promise((resolve) => socket.once('connect', resolve));
  let answer = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => { answer += chunk; });
  socket.write('POST /healthz HTTP/1.1\r\nHost: auth.localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n');
  await new Promise((resolve) => setTimeout(resolve, 200));
  server.child.kill('SIGTERM');
  await server.waitForLine(/"msg":"stopping/);
  socket.write('{}');
  await new Promise((resolve) => socket.once('end', resolve));
  assert.match(answer, /^HTTP\/1\.1 404 /, 'the in-flight request was answered (no POST route: 404)');

  const { code, stdout } = await server.finished;
  assert.equal(code, 0);
  assert.match(stdout, /"msg":"stopped"/);
  // SQLite removes the write-ahead log when the last connection closes cleanly.
  assert.ok(existsSync(join(dir, 'data', 'signonce.db')) && !existsSync(join(dir, 'data', 'signonce.db-wal')), 'store closed cleanly');
});
