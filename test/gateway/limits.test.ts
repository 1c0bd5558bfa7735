// Limits under abuse: rate limits on sign-in and refresh endpoints (429 + Retry-After, per client
// address and per account, bounded in memory), header size and slow-client timeouts.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { RateLimiter, takeToken, type Bucket } from '../../src/gateway/rate-limit.ts';
import { rateLimitOf } from '../../src/gateway/routes.ts';
import { startTestGateway, type Echo } from '../support/gateway.ts';
import { devSignIn } from '../support/sign-in.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';

const MINUTE = 60_000;

test('takeToken: a bucket allows `limit` at once, then one per window/limit; time going back refills nothing', () => {
  const rule = { limit: 3, windowMs: MINUTE };
  const cases: Array<[string, Bucket | undefined, number, number, number]> = [
    // what, bucket before, now, retryAfterMs expected, tokens after
    ['a new client has a full bucket', undefined, 0, 0, 2],
    ['the last token', { tokens: 1, at: 0 }, 0, 0, 0],
    ['empty: wait for one token (20 s)', { tokens: 0, at: 0 }, 0, 20_000, 0],
    ['half a token refilled: wait the other half', { tokens: 0, at: 0 }, 10_000, 10_000, 0.5],
    ['one refilled', { tokens: 0, at: 0 }, 20_000, 0, 0],
    ['never more than limit, however long idle', { tokens: 0, at: 0 }, 100 * MINUTE, 0, 2],
    ['a clock gone back refills nothing', { tokens: 0, at: 50_000 }, 0, 20_000, 0],
    ['a bucket stamped far ahead does not drain further', { tokens: 0.5, at: 10 * MINUTE }, 0, 10_000, 0.5],
  ];
  for (const [what, bucket, now, retryAfterMs, tokens] of cases) {
    const taken = takeToken(bucket, now, rule);
    assert.equal(taken.retryAfterMs, retryAfterMs, what);
    assert.equal(taken.bucket.tokens, tokens, what);
  }
});

test('RateLimiter: per key, off at limit 0, and bounded in keys (the least recently used goes)', () => {
  let now = 0;
  const limiter = new RateLimiter({ limit: 2, windowMs: MINUTE }, { maxKeys: 3, now: () => now });
  assert.deepEqual([limiter.take('a'), limiter.take('a'), limiter.take('a') > 0], [0, 0, true]);
  assert.equal(limiter.take('b'), 0, 'another key has its own bucket');
  for (let i = 0; i < 1000; i++) limiter.take(`flood-${i}`);
  assert.equal(limiter.size, 3, 'a thousand addresses hold three buckets');
  now += 1;
  const off = new RateLimiter({ limit: 0, windowMs: MINUTE });
  for (let i = 0; i < 100; i++) assert.equal(off.take('x'), 0);
  assert.equal(off.size, 0);
});

test('rateLimitOf: which requests count against which limit', () => {
  const cases: Array<[Parameters<typeof rateLimitOf>[0], string, ReturnType<typeof rateLimitOf>]> = [
    ['app', '/.auth/login/google', 'sign-in'],
    ['app', '/.auth/login', 'sign-in'],
    ['app', '/.auth/login/done', 'sign-in'],
    ['app', '/.auth/link/github', 'sign-in'],
    ['app', '/.auth/external/exchange', 'sign-in'],
    ['auth', '/.auth/login/google/callback', 'sign-in'],
    ['auth', '/.auth/login/local/form', 'sign-in'],
    ['auth', '/.auth/oidc/interaction/abc', 'sign-in'],
    ['auth', '/.auth/oidc/auth', 'sign-in'],
    ['auth', '/.auth/oidc/auth/resume-id', 'sign-in'],
    ['auth', '/.auth/oidc/authx', undefined],
    ['auth', '/.auth/oidc/me', undefined],
    ['app', '/.auth/refresh', 'refresh'],
    ['app', '/.auth/token', 'refresh'],
    ['auth', '/.auth/token', 'refresh'],
    ['auth', '/.auth/oidc/token', 'refresh'],
    ['app', '/', undefined],
    ['app', '/.auth/me', undefined],
    ['app', '/.auth/logout', undefined],
    ['app', '/.auth/loginx', undefined],
    ['app', '/app/.auth/login', undefined],
    ['app', '/.auth/oidc/token', undefined],
    ['unknown', '/.auth/login/google', undefined],
  ];
  for (const [host, path, expected] of cases) assert.equal(rateLimitOf(host, path), expected, `${host} ${path}`);
});

test('one address flooding sign-in gets 429 with Retry-After; signed-in users keep being served; other addresses are not limited', async () => {
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'dev' }],
    // Loopback is the load balancer: its X-Forwarded-For names the client.
    trustedProxies: ['127.0.0.1', '::1'],
    rateLimits: {
      signIn: { perAddress: { limit: 6, window: '1m' } },
      refresh: { perAccount: { limit: 2, window: '1m' } },
    },
  }));
  after(() => gw.close());
  const from = (address: string) => ({ 'x-forwarded-for': address });
  const ua = new UserAgent();
  const form = await ua.navigate(gw.url('app.localhost', '/'), { headers: from('198.51.100.7') });
  const landed = await ua.submitForm(finalUrl(form), await form.text(), { user_id: 'ann@example.com' });
  assert.equal(landed.status, 200);

  const flooder = new UserAgent();
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 20; i++) {
    const answer = await flooder.request(gw.url('app.localhost', '/.auth/login/dev'), { headers: from('203.0.113.9') });
    statuses.push(answer.status);
    if (answer.status === 429) retryAfter = answer.headers.get('retry-after');
    await answer.cancel();
  }
  assert.deepEqual(statuses.slice(0, 6), Array(6).fill(302), 'the first six go through');
  assert.deepEqual(new Set(statuses.slice(6)), new Set([429]), 'the rest are refused');
  assert.equal(retryAfter, '10', 'a token comes back every 10 s (6 a minute)');
  const served = await ua.request(gw.url('app.localhost', '/'), { headers: from('203.0.113.9') });
  assert.equal(
    served.status,
    200,
    'a signed-in user behind the same address is served: only sign-in endpoints are limited',
  );
  assert.equal(((await served.json()) as Echo).headers['x-ms-client-principal-name'], 'ann@example.com');
  const other = await new UserAgent().request(gw.url('app.localhost', '/.auth/login/dev'), {
    headers: from('192.0.2.1'),
  });
  assert.equal(other.status, 302, 'another address has its own allowance');

  // Refreshes per account: whichever address asks.
  const refreshes = [];
  for (const address of ['192.0.2.10', '192.0.2.11', '192.0.2.12'])
    refreshes.push((await ua.request(gw.url('app.localhost', '/.auth/refresh'), { headers: from(address) })).status);
  assert.deepEqual(
    refreshes,
    [400, 400, 429],
    'two asks a minute for this account (400: the dev provider has no refresh token)',
  );
});

test('headers larger than limits.maxHeaderBytes get 431; a client that sends its headers too slowly is cut off', async () => {
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, unauthenticatedAction: 'AllowAnonymous' }],
    limits: { maxHeaderBytes: 8192, headersTimeout: '1s', requestTimeout: '2s' },
  }));
  after(() => gw.close());
  // On a connection of its own (the server closes it after refusing; the pool must not reuse it).
  const big = await new UserAgent().request(gw.url('app.localhost', '/'), {
    headers: { cookie: `x=${'a'.repeat(10_000)}`, connection: 'close' },
  });
  assert.equal(big.status, 431);
  assert.equal(
    (await new UserAgent().request(gw.url('app.localhost', '/'), { headers: { cookie: `x=${'a'.repeat(4000)}` } }))
      .status,
    200,
  );

  // Slowloris: a byte of headers every 300 ms, never finishing.
  const socket = connect(gw.port, '127.0.0.1');
  const started = performance.now();
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    received += chunk;
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(`GET / HTTP/1.1\r\nHost: app.localhost:${gw.port}\r\n`);
  const drip = setInterval(() => socket.writable && socket.write('X'), 300);
  await closed;
  clearInterval(drip);
  const after_ = performance.now() - started;
  assert.ok(after_ < 5000, `closed after ${after_.toFixed(0)} ms`);
  assert.match(received, /^HTTP\/1\.1 408/, 'told why');
});

test('while another process floods the sign-in endpoint, signed-in users are served', async () => {
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'dev' }],
  }));
  after(() => gw.close());
  const { ua } = await devSignIn(gw.url('app.localhost', '/'), 'ann@example.com');
  // The flooder: another process, 2 s of as many sign-in requests as 32 connections carry (bounded, loopback).
  const script = `require('autocannon')({ url: 'http://127.0.0.1:${gw.port}/.auth/login/dev', connections: 32, duration: 2,
    headers: { host: 'app.localhost:${gw.port}' } }).then((r) => process.stdout.write(JSON.stringify(r.statusCodeStats)))`;
  const flooder = spawn(process.execPath, ['-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  flooder.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const flooded = new Promise<Record<string, { count: number }>>((resolve) =>
    flooder.on('close', () => resolve(JSON.parse(out))),
  );
  const statuses = new Map<number, number>();
  let done = false;
  void flooded.then(() => {
    done = true;
  });
  while (!done) {
    const answer = await ua.request(gw.url('app.localhost', '/'));
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    await answer.cancel();
  }
  const flood = await flooded;
  assert.deepEqual([...statuses.keys()], [200], 'every request of the signed-in user served');
  // The default allowance: a burst of 300, then 5 a second (the flood lasts 2 s, and a little more).
  assert.ok(
    (flood['302']?.count ?? 0) <= 300 + 20 && (flood['429']?.count ?? 0) > 0,
    `no more of the flood let through than the limit allows: ${JSON.stringify(flood)}`,
  );
  assert.ok((statuses.get(200) ?? 0) > 10);
});
