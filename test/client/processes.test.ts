// Three app processes sharing one EncryptedFileCache against a running SignOnce with a real
// provider: one signs in, all three call the app as the user; 30 concurrent renewals across the
// processes at expiry make one /.auth/refresh; a writer killed with SIGKILL never leaves a broken
// file or a lock that blocks the others.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { EncryptedFileCache, envKeySource } from '../../src/client/node.ts';
import { generateKey } from '../../src/crypto/keyring.ts';
import { startGatewayWithIdp, type TestGateway } from '../support/gateway.ts';
import type { TestIdp } from '../support/idp.ts';
import { oidcSignIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';

const run = promisify(execFile);
const MEMBER = fileURLToPath(new URL('./support/group-member.ts', import.meta.url));
const LIFETIME_S = 6;
const REFRESH_BEFORE_S = 4;

describe('an access group in three processes', () => {
  let idp: TestIdp;
  let gw: TestGateway;
  let dir: string;
  let remove: () => Promise<void>;
  const env = { ...process.env, SIGNONCE_CLIENT_KEY: generateKey(), REFRESH_BEFORE_S: String(REFRESH_BEFORE_S) };

  before(async () => {
    ({ dir, remove } = await tempDir());
    ({ gw, idp } = await startGatewayWithIdp((port, upstream, idp) => ({
      publicUrl: `http://auth.localhost:${port}`,
      session: { lifetime: `${LIFETIME_S}s` },
      providers: [
        {
          id: 'idp',
          type: 'oidc',
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecret: idp.clientSecret,
          scopes: ['openid', 'email', 'offline_access'],
          authorizationParams: { prompt: 'consent' },
        },
      ],
      apps: [
        // The apps of the group trust each other's tokens: a renewal by either serves both.
        {
          id: 'mail',
          hosts: [`mail.localhost:${port}`],
          upstream,
          defaultProvider: 'idp',
          allowedExternalRedirectUrls: ['suiteapp://cb'],
          acceptTokensFrom: ['calendar'],
        },
        { id: 'calendar', hosts: [`calendar.localhost:${port}`], upstream, acceptTokensFrom: ['mail'] },
      ],
    })));
  });
  after(async () => {
    await gw?.close();
    await idp?.close();
    await remove?.();
  });

  const member = async (...args: string[]) =>
    JSON.parse((await run(process.execPath, [MEMBER, ...args], { env })).stdout) as Record<string, unknown>;
  const refreshCalls = () => gw.requestsTo('/.auth/refresh');

  test('one signs in, three call their apps as the user (one of them another app of the group, no prompt); 30 renewals at expiry: one /.auth/refresh', async () => {
    const file = join(dir, 'suite.cache');
    const url = gw.url('mail.localhost', '');
    const handedBack = (
      await oidcSignIn(gw.url('mail.localhost', '/.auth/login/idp?post_login_redirect_uri=suiteapp://cb'), 'cleo')
    ).landed.headers.get('location')!;
    const user = await member('signin', url, 'mail', file, handedBack);
    // Within refreshBefore of the end: every caller wants a renewal, at the same moment.
    await sleep((LIFETIME_S - REFRESH_BEFORE_S) * 1000 + 300);
    const calls = refreshCalls();
    const startAt = String(Date.now() + 1500);
    const calendarUrl = gw.url('calendar.localhost', '');
    const results = (await Promise.all(
      [
        [url, 'mail'],
        [url, 'mail'],
        [calendarUrl, 'calendar'],
      ].map(([appUrl, app]) => member('call', appUrl!, app!, file, startAt, '10')),
    )) as Array<{ tokens: string[]; status: number; name: string }>;
    assert.equal(refreshCalls() - calls, 1, 'one /.auth/refresh for 30 callers in three processes');
    assert.equal(
      new Set(results.slice(0, 2).flatMap((r) => r.tokens)).size,
      1,
      'the mail processes share the renewed token',
    );
    assert.equal(new Set(results[2]!.tokens).size, 1, 'the calendar got one token of its own, for the same sign-in');
    assert.deepEqual(
      results.map((r) => [r.status, r.name]),
      [
        [200, 'cleo@example.com'],
        [200, 'cleo@example.com'],
        [200, 'cleo@example.com'],
      ],
    );
    assert.match(String(user.userId), /^[0-9a-f-]{36}$/);
  });

  test('a writer killed with SIGKILL, again and again: the file is never broken, the lock is taken over', async () => {
    const file = join(dir, 'killed.cache');
    const cache = new EncryptedFileCache({
      file,
      group: 'suite',
      key: envKeySource(),
      staleLockMs: 2000,
      onWarning: (w) => assert.fail(w),
    });
    process.env.SIGNONCE_CLIENT_KEY = env.SIGNONCE_CLIENT_KEY;
    for (let round = 0; round < 3; round++) {
      const writer = spawn(process.execPath, [MEMBER, 'write', file], { env, stdio: 'ignore' });
      // Killed in the middle of its writing: once it has written, at an arbitrary moment after.
      while (JSON.parse((await cache.get('group:suite')) ?? '{"n":-1}').n < 0) await sleep(20);
      await sleep(37 + round * 53);
      writer.kill('SIGKILL');
      await new Promise((resolve) => writer.once('exit', resolve));
      const value = await cache.get('group:suite');
      assert.ok(
        value && Number.isInteger((JSON.parse(value) as { n: number }).n),
        `round ${round}: a whole value, never a broken file`,
      );
      const started = Date.now();
      await cache.exclusive(() => cache.set('group:suite', JSON.stringify({ n: -1 })));
      assert.ok(
        Date.now() - started < 6000,
        `round ${round}: the dead writer's lock went stale (${Date.now() - started} ms)`,
      );
    }
    // A holder killed for sure while it holds the lock: the others wait, then take over (stale after 2 s).
    const holder = spawn(process.execPath, [MEMBER, 'hold', file], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    await once(holder.stdout, 'data');
    const waiting = cache.exclusive(async () => Date.now());
    await sleep(500);
    const killedAt = Date.now();
    holder.kill('SIGKILL');
    const tookOver = (await waiting) - killedAt;
    assert.ok(tookOver < 5000, `taken over ${tookOver} ms after the holder died`);
  });
});
