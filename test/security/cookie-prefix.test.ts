// Cookie tossing (RFC 6265 section 8.6): a host under the same domain as SignOnce (a sibling
// subdomain) can set cookies SignOnce will receive, but not ones named `__Host-…` (RFC 6265bis
// section 4.1.3.2). Over https SignOnce's own cookies carry that prefix and SignOnce reads no
// other name, so an attacker's single sign-on cookie tossed onto a victim's browser is ignored.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway } from '../support/gateway.ts';
import { devSignIn } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';

test('over https, a tossed SSO cookie without the __Host- prefix does not sign the victim in as the attacker [RFC 6265bis 4.1.3.2; ASVS 4.0.3 3.4.4; CWE-384]', async () => {
  // publicUrl is https (as behind a TLS-terminating load balancer); requests reach the gateway over http.
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `https://auth.localhost:${port}`,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: [{ id: 'app1', hosts: [`app1.localhost:${port}`], upstream, defaultProvider: 'dev' }],
  }));
  after(() => gw.close());
  const browser = () => {
    const ua = new UserAgent();
    ua.via = () => gw.port;
    return ua;
  };
  const app = `https://app1.localhost:${gw.port}/`;
  const auth = `auth.localhost:${gw.port}`;

  const { ua: attacker, landed } = await devSignIn(app, 'mallory@example.com', browser());
  assert.equal(landed.status, 200);
  const cookies = attacker.jar.get(auth)!;
  assert.deepEqual([...cookies.keys()], ['__Host-SignOnceSSO'], 'the prefixed name');
  assert.equal(cookies.get('__Host-SignOnceSSO')!.path, '/', 'Path=/, as the prefix requires');

  // What a sibling host can plant: the same value under the name without the prefix.
  const victim = browser();
  victim.jar.set(auth, new Map([['SignOnceSSO', { value: cookies.get('__Host-SignOnceSSO')!.value, path: '/' }]]));
  const met = await victim.navigate(app);
  assert.match(await met.text(), /name="user_id"/, "the victim meets the sign-in form, not the attacker's session");
});

test('over https, every cookie SignOnce sets for itself is Secure, host-only and __Host- prefixed', async () => {
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `https://auth.localhost:${port}`,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: [{ id: 'app1', hosts: [`app1.localhost:${port}`], upstream, defaultProvider: 'dev' }],
    session: { cookieName: '__Host-AppServiceAuthSession' },
  }));
  after(() => gw.close());
  const ua = new UserAgent();
  ua.via = () => gw.port;
  const setCookies: string[] = [];
  const request = ua.request.bind(ua);
  ua.request = async (input, init) => {
    const answer = await request(input, init);
    setCookies.push(...answer.headers.getSetCookie());
    return answer;
  };
  await devSignIn(`https://app1.localhost:${gw.port}/`, 'ann@example.com', ua);
  const own = setCookies.filter((c) => !/^(app|other)=/.test(c));
  assert.ok(own.length >= 3, own.join('\n'));
  for (const cookie of own) {
    assert.match(cookie, /^__Host-/, cookie);
    assert.match(cookie, /; Secure/i, cookie);
    assert.match(cookie, /; Path=\/(;|$)/i, cookie);
    assert.doesNotMatch(cookie, /; Domain=/i, cookie);
  }
});
