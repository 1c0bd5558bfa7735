// Three real `signonce serve` processes on one PostgreSQL, each request sent to whichever instance
// the test picks (as a load balancer would): every step of a sign-in may land anywhere, a
// sign-out on one is seen by the others within a second although they cache signed-in answers for
// a minute, and killing an instance under load loses no completed sign-in.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeProtectedHeader } from 'jose';
import { generateKey } from '../../src/crypto/keyring.ts';
import { runCli } from '../support/cli.ts';
import { startEcho, type Echo } from '../support/gateway.ts';
import { startInstances, type Instances } from '../support/instances.ts';
import { freePort } from '../support/ports.ts';
import { admin, createSchema, postgresSkipReason } from '../support/postgres.ts';
import { devSignIn, handedOver } from '../support/sign-in.ts';
import { UserAgent, type Response } from '../support/user-agent.ts';

const skip = postgresSkipReason;
const NATIVE_APP = 'myapp://signed-in';
let instances: Instances;
let front: number;
let cleanup: () => Promise<void>;

before(async () => {
  if (skip) return;
  const sql = admin();
  const { schema, url } = await createSchema(sql);
  const echo = await startEcho();
  // The port of the public URLs: nothing listens on it; the test routes each request to an instance.
  front = await freePort();
  instances = await startInstances(3, {
    publicUrl: `http://auth.localhost:${front}`,
    store: url,
    secrets: { encryptionKeys: [generateKey()] },
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: ['app1', 'app2'].map((id) => ({
      id,
      hosts: [`${id}.localhost:${front}`],
      upstream: echo.url,
      defaultProvider: 'dev',
      allowedExternalRedirectUrls: [NATIVE_APP],
    })),
    // A minute, the longest allowed: without the store's change notices a sign-out elsewhere would be seen that late.
    session: { cacheTtl: '60s' },
    // The load below signs in hundreds of users a second from one address.
    rateLimits: { signIn: { perAddress: { limit: 0, window: '1m' } } },
  });
  cleanup = async () => {
    await instances.close();
    await new Promise((resolve) => echo.server.close(resolve));
    await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    await sql.end();
  };
});
after(() => cleanup?.());

const app = (id: string, path = '/') => `http://${id}.localhost:${front}${path}`;
const principal = async (response: Response) => ((await response.json()) as Echo).headers['x-ms-client-principal-name'];

/** Signs in with the dev form; every request goes where `ua.via` sends it. */
async function signIn(ua: UserAgent, name: string): Promise<Response> {
  return (await devSignIn(app('app1'), name, ua)).landed;
}

test('a sign-in through instance 1, the SSO hand-off through instance 2, app requests on instance 3; a sign-out on 3 is seen by 1 within a second', {
  skip,
}, async (t) => {
  const ua = new UserAgent();
  const [one, two, three] = instances.ports;
  ua.via = () => one!;
  const signedIn = await signIn(ua, 'ada@example.com');
  assert.equal(signedIn.status, 200);
  assert.equal(await principal(signedIn), 'ada@example.com');

  ua.via = () => two!;
  const handedOff = await ua.navigate(app('app2'));
  assert.equal(handedOff.status, 200, 'signed in to app2 without a form');
  assert.equal(await principal(handedOff), 'ada@example.com');
  assert.ok(
    ua.visited.some((url) => url.includes('auth.localhost')),
    'through the auth host',
  );

  ua.via = () => three!;
  for (const id of ['app1', 'app2'])
    assert.equal(await principal(await ua.request(app(id))), 'ada@example.com', `${id} on instance 3`);

  // Instance 1 answers app1 from its cache from now on (60 s).
  ua.via = () => one!;
  assert.equal((await ua.request(app('app1'))).status, 200);
  const cookie = ua.cookieHeader(new URL(app('app1')))!;

  ua.via = () => three!;
  const signedOut = await ua.navigate(app('app1', '/.auth/logout'));
  const outAt = performance.now();
  assert.equal(signedOut.status, 200);
  // The browser's old cookie, replayed on instance 1, polled until refused.
  const replay = new UserAgent();
  replay.via = () => one!;
  let status = 200;
  while (status === 200 && performance.now() - outAt < 5000) {
    status = (await replay.request(app('app1'), { headers: { cookie } })).status;
  }
  const seenAfter = performance.now() - outAt;
  t.diagnostic(
    `sign-out on instance 3 seen by instance 1 after ${seenAfter.toFixed(1)} ms (its cache keeps answers 60 s)`,
  );
  assert.equal(status, 302, 'instance 1 sends the signed-out cookie to sign in');
  assert.ok(seenAfter < 1000, `seen within a second (${seenAfter.toFixed(1)} ms)`);
});

test("the account page on instance 2 signs out another browser's session; instance 1, which caches it for a minute, refuses it within a second", {
  skip,
}, async (t) => {
  const [one, two] = instances.ports;
  const laptop = new UserAgent();
  laptop.via = () => one!;
  assert.equal((await signIn(laptop, 'bea@example.com')).status, 200);
  assert.equal((await laptop.request(app('app1'))).status, 200, "instance 1 caches the laptop's answer");
  // A phone, on instance 2: the account page, with the same sign-on (the app's session is the SSO one).
  const phone = new UserAgent();
  phone.via = () => two!;
  assert.equal((await signIn(phone, 'bea@example.com')).status, 200);
  const page = await phone.navigate(app('app1', '/.auth/account'));
  const html = await page.text();
  assert.match(html, /Where you are signed in/);
  // The laptop's session: the row not marked as this browser, its sign-out form's reference.
  const laptopRow = html.split('<tr').find((row) => row.includes('name="session"') && !row.includes('this browser'))!;
  const ref = /name="session" value="([^"]+)"/.exec(laptopRow)![1]!;
  const ended = await phone.request(`http://auth.localhost:${front}/.auth/account/sessions/end`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
    body: new URLSearchParams({ session: ref }).toString(),
  });
  const outAt = performance.now();
  assert.equal(ended.status, 303);
  let status = 200;
  while (status === 200 && performance.now() - outAt < 5000) status = (await laptop.request(app('app1'))).status;
  const seenAfter = performance.now() - outAt;
  t.diagnostic(
    `a session ended on the account page (instance 2) refused by instance 1 after ${seenAfter.toFixed(1)} ms`,
  );
  assert.equal(status, 302, 'the laptop is sent to sign in');
  assert.ok(seenAfter < 1000, `within a second (${seenAfter.toFixed(1)} ms)`);
  assert.equal((await phone.request(app('app1'))).status, 200, 'the phone stays signed in');
});

test('after `keys rotate-signing`, every instance signs with the new key within a second', { skip }, async (t) => {
  /** The key that signs an authentication token minted by the instance on `port` now (a native app's sign-in). */
  const signingKid = async (port: number) => {
    const ua = new UserAgent();
    ua.via = () => port;
    const { landed } = await devSignIn(
      app('app1', `/.auth/login/dev?post_login_redirect_uri=${encodeURIComponent(NATIVE_APP)}`),
      'kim@example.com',
      ua,
    );
    return decodeProtectedHeader(handedOver(landed).authenticationToken).kid;
  };
  const before = await signingKid(instances.ports[0]!);
  const rotated = await runCli(['keys', 'rotate-signing', '--config', instances.configFile(0)]);
  const rotatedAt = performance.now();
  assert.equal(rotated.code, 0, rotated.stderr);
  const added = /new signing key (\S+)/.exec(rotated.stdout)![1]!;
  assert.notEqual(added, before);
  const seen = await Promise.all(
    instances.ports.map(async (port) => {
      while ((await signingKid(port)) !== added && performance.now() - rotatedAt < 5000) await sleep(5);
      return performance.now() - rotatedAt;
    }),
  );
  t.diagnostic(
    `the three instances signed with the new key ${seen.map((ms) => `${ms.toFixed(0)} ms`).join(', ')} after the rotation (they re-read keys every minute otherwise)`,
  );
  for (const ms of seen) assert.ok(ms < 1000, `within a second (${ms.toFixed(0)} ms)`);
});

test('SIGKILL of one instance during a load of sign-ins and requests: no completed sign-in is lost, the others keep serving', {
  skip,
}, async (t) => {
  const victim = 2;
  let killed = false;
  const alive = () => instances.ports.filter((_, i) => !(killed && i === victim));
  const completed: Array<{ ua: UserAgent; name: string }> = [];
  const failures: string[] = [];
  let interrupted = 0;
  let served = 0;
  const stopAt = performance.now() + 3000;

  // Each request of each user goes to a random live instance; a request the dead instance was
  // answering fails (as at a real load balancer) and that user starts the sign-in again.
  const user = async (n: number) => {
    for (let round = 0; performance.now() < stopAt; round++) {
      const ua = new UserAgent();
      let last = 0;
      ua.via = () => {
        const ports = alive();
        last = ports[Math.floor(Math.random() * ports.length)]!;
        return last;
      };
      const name = `user-${n}-${round}@example.com`;
      try {
        const landed = await signIn(ua, name);
        if (landed.status !== 200) failures.push(`sign-in of ${name}: ${landed.status}`);
        else completed.push({ ua, name });
        for (let i = 0; i < 5; i++) {
          const answer = await ua.request(app(i % 2 ? 'app2' : 'app1'));
          served++;
          if (answer.status >= 500) failures.push(`request of ${name}: ${answer.status}`);
          await answer.cancel();
        }
      } catch (error) {
        if (last === instances.ports[victim] && killed) interrupted++;
        else failures.push(`${name}: ${(error as Error).message}`);
      }
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, (_, n) => user(n)));
  await sleep(1200);
  const before = completed.length;
  killed = true;
  await instances.kill(victim);
  await load;
  t.diagnostic(
    `${completed.length} sign-ins completed (${before} before the kill), ${served} app requests served, ${interrupted} flows cut by the kill`,
  );
  assert.deepEqual(failures, []);
  assert.ok(before > 0 && completed.length > before, 'sign-ins completed before and after the kill');

  // Every completed sign-in works on both survivors.
  for (const { ua, name } of completed) {
    for (const port of alive()) {
      ua.via = () => port;
      const answer = await ua.request(app('app1'));
      assert.equal(answer.status, 200, `${name} on ${port}`);
      assert.equal(await principal(answer), name);
    }
  }
});
