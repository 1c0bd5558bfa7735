// PostgreSQL stopped for real (pg_ctl stop -m immediate, as a crash) while signed-in users keep
// sending requests and new users sign in, then started again: while it is down every answer is
// 503 (never a sign-out), the gateway stays up and says why in its log, it recovers by itself,
// and nothing written before is damaged.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestGateway, type Echo } from '../support/gateway.ts';
import { postgresSkipReason } from '../support/postgres.ts';
import { privatePostgresSkipReason, startPrivatePostgres } from '../support/private-postgres.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';

test('PostgreSQL stopped and restarted under load: 503 while down, full recovery after, no damaged row', {
  skip: postgresSkipReason ?? privatePostgresSkipReason,
}, async (t) => {
  const pg = await startPrivatePostgres();
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    store: pg.url,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'dev' }],
    // New users sign in all through the outage, from one address.
    rateLimits: { signIn: { perAddress: { limit: 0, window: '1m' } } },
  }));
  after(async () => {
    await gw.close();
    await pg.close();
  });

  const signIn = async (name: string) => {
    const ua = new UserAgent();
    const form = await ua.navigate(gw.url('app.localhost'));
    if (form.status !== 200) {
      await form.cancel();
      return { ua, status: form.status };
    }
    const landed = await ua.submitForm(finalUrl(form), await form.text(), { user_id: name });
    return { ua, status: landed.status };
  };
  const users = await Promise.all(Array.from({ length: 6 }, (_, i) => signIn(`user-${i}@example.com`)));
  assert.deepEqual(
    users.map((u) => u.status),
    Array(6).fill(200),
  );

  // Every answer, with when it was asked and answered (ms on performance.now()).
  const answers: Array<{ from: number; to: number; status: number }> = [];
  const signedInLater: string[] = [];
  let running = true;
  const timed = async (ask: () => Promise<number>) => {
    const from = performance.now();
    const status = await ask();
    answers.push({ from, to: performance.now(), status });
    return status;
  };
  // Signed-in users' requests, and new sign-ins, all through the outage.
  const load = Promise.all([
    ...users.map(async ({ ua }, i) => {
      while (running) {
        await timed(async () => {
          const answer = await ua.request(gw.url('app.localhost'));
          if (answer.status === 200)
            assert.equal(
              ((await answer.json()) as Echo).headers['x-ms-client-principal-name'],
              `user-${i}@example.com`,
            );
          else await answer.cancel();
          return answer.status;
        });
        await sleep(5);
      }
    }),
    (async () => {
      for (let n = 0; running; n++) {
        const name = `later-${n}@example.com`;
        if ((await timed(async () => (await signIn(name)).status)) === 200) signedInLater.push(name);
        await sleep(20);
      }
    })(),
  ]);

  await sleep(500);
  const stoppingAt = performance.now();
  await pg.stop('immediate');
  const downAt = performance.now();
  const ready = async () => (await new UserAgent().request(gw.url('auth.localhost', '/readyz'))).status;
  await sleep(1500);
  assert.equal(await ready(), 503, 'not ready while the store is down');
  const startingAt = performance.now();
  await pg.start();
  const upAt = performance.now();
  await sleep(2000);
  running = false;
  await load;

  const between = (from: number, to: number) => answers.filter((a) => a.from >= from && a.to <= to);
  const statuses = (list: typeof answers) => {
    const counts: Record<number, number> = {};
    for (const a of list) counts[a.status] = (counts[a.status] ?? 0) + 1;
    return JSON.stringify(counts);
  };
  const whileDown = between(downAt, startingAt);
  const firstServed = answers
    .filter((a) => a.from >= upAt && a.status === 200)
    .reduce((min, a) => Math.min(min, a.to), Number.POSITIVE_INFINITY);
  const lastRefused = answers.filter((a) => a.status !== 200).reduce((max, a) => Math.max(max, a.to), 0);
  t.diagnostic(
    `before the stop ${statuses(between(0, stoppingAt))}; while down (${(startingAt - downAt).toFixed(0)} ms) ${statuses(whileDown)}, slowest answer ${Math.max(...whileDown.map((a) => a.to - a.from)).toFixed(0)} ms; ` +
      `after the restart ${statuses(answers.filter((a) => a.from >= upAt))}: first 200 ${(firstServed - upAt).toFixed(0)} ms after it, last refusal ${(lastRefused - upAt).toFixed(0)} ms after it`,
  );
  assert.deepEqual(
    new Set(answers.map((a) => a.status)),
    new Set([200, 503]),
    'nothing but served or 503: never a sign-out, never an error page',
  );
  assert.deepEqual(new Set(between(0, stoppingAt).map((a) => a.status)), new Set([200]));
  assert.ok(whileDown.length > 10 && whileDown.every((a) => a.status === 503), 'fails closed while down');
  assert.ok(lastRefused - upAt < 3000, 'every request served again within 3 s of the restart');
  assert.equal(await ready(), 200);

  // The gateway said what happened.
  const said = (pattern: RegExp) => gw.logs.some((line) => pattern.test(line));
  assert.ok(said(/the store is unreachable: answered 503/), 'each 503 is logged with its reason');
  assert.ok(said(/lost the connection on which other instances' changes are heard/));
  assert.ok(said(/the store is back/));

  // Nothing damaged: PostgreSQL's own checker finds no corrupt page or index, and every user
  // signed in before or during the outage is still signed in.
  await pg.tool('pg_amcheck', ['--install-missing', '--heapallindexed', '--database', 'postgres']);
  for (const { ua } of users) assert.equal((await ua.request(gw.url('app.localhost'))).status, 200);
  assert.ok(signedInLater.length > 0);
});
