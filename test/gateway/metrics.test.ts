// Observability: /metrics in Prometheus's text format for scrapers only, labels bounded by route
// pattern, and one request id per request in its log lines and sent to the app as X-Request-Id.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { routeLabel } from '../../src/gateway/metrics.ts';
import { startTestGateway, type Echo } from '../support/gateway.ts';
import { devSignIn } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';

test('routeLabel: a fixed set of labels, whatever the path (ids never become labels)', () => {
  const cases: Array<[Parameters<typeof routeLabel>[0], string, string]> = [
    ['app', '/', 'app'],
    ['app', '/orders/12345?x=1', 'app'],
    ['app', '/.auth/login/google', '/.auth/login/{id}'],
    ['app', '/.auth/login/anything-at-all', '/.auth/login/{id}'],
    ['app', '/.auth/me', '/.auth/me'],
    ['app', '/.auth/logout/complete', '/.auth/logout/complete'],
    ['app', '/.auth/unlink/github', '/.auth/unlink/{id}'],
    ['app', `/.auth/${'x'.repeat(500)}`, '/.auth/other'],
    ['auth', '/.auth/login/google/callback', '/.auth/login/{id}/callback'],
    ['auth', '/.auth/oidc/auth/8f3a9c', '/.auth/oidc/auth'],
    ['auth', '/.auth/oidc/token/introspection', '/.auth/oidc/token/introspection'],
    ['auth', '/.auth/oidc/interaction/abc/login', '/.auth/oidc/interaction'],
    ['auth', '/.well-known/jwks.json', '/.well-known/jwks.json'],
    ['auth', '/metrics', '/metrics'],
    ['auth', '/random/path', 'other'],
    ['unknown', '/readyz', '/readyz'],
    ['unknown', '/.auth/me', 'other'],
  ];
  for (const [host, path, expected] of cases) assert.equal(routeLabel(host, path), expected, `${host} ${path}`);
});

test('/metrics counts requests by route and status, sign-ins, store and upstream latency; only for allowed addresses', async () => {
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'dev' }],
  }));
  after(() => gw.close());
  const { ua, landed } = await devSignIn(gw.url('app.localhost', '/'), 'mo@example.com');
  assert.equal(landed.status, 200);
  await ua.request(gw.url('app.localhost', '/.auth/me'));
  await new UserAgent().request(gw.url('app.localhost', '/.auth/me'));

  const scraped = await new UserAgent().request(gw.url('auth.localhost', '/metrics'));
  assert.equal(scraped.status, 200);
  assert.match(scraped.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
  const text = await scraped.text();
  const value = (line: RegExp) => Number(new RegExp(`^${line.source} (\\S+)$`, 'm').exec(text)?.[1]);
  assert.equal(value(/signonce_http_requests_total\{host="app",route="\/\.auth\/me",status="200"\}/), 1);
  assert.equal(value(/signonce_http_requests_total\{host="app",route="\/\.auth\/me",status="401"\}/), 1);
  assert.ok(value(/signonce_http_requests_total\{host="app",route="app",status="200"\}/) >= 1, 'the proxied request');
  assert.equal(value(/signonce_sign_ins_total\{provider="dev",outcome="success"\}/), 1);
  assert.ok(value(/signonce_upstream_duration_seconds_count\{app="app"\}/) >= 1);
  assert.ok(value(/signonce_store_duration_seconds_count\{operation="query"\}/) > 0);
  assert.match(text, /^signonce_process_resident_memory_bytes \d+/m, "the process's own metrics");
  assert.ok(!text.includes('mo@example.com'), 'no user in a label');
});

test('/metrics is refused to addresses not in metrics.allowFrom', async () => {
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream }],
    metrics: { allowFrom: ['10.1.2.3'] },
  }));
  after(() => gw.close());
  assert.equal((await new UserAgent().request(gw.url('auth.localhost', '/metrics'))).status, 404);
  assert.equal(
    (await new UserAgent().request(gw.url('app.localhost', '/metrics'))).status,
    302,
    "on an app host, /metrics is the app's (here: sign in first)",
  );
});

test('each request has an id in its log lines, sent to the app as X-Request-Id; a client cannot choose it, a trusted proxy can', async () => {
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, unauthenticatedAction: 'AllowAnonymous' }],
  }));
  after(() => gw.close());
  const idSent = async (gateway: typeof gw, headers: Record<string, string>) =>
    ((await (await new UserAgent().request(gateway.url('app.localhost', '/'), { headers })).json()) as Echo).headers[
      'x-request-id'
    ];
  const id = await idSent(gw, { 'x-request-id': 'chosen-by-client' });
  assert.match(
    String(id),
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    "a new id, not the client's",
  );
  const lines = gw.logs
    .map((line) => JSON.parse(line) as { reqId?: string; msg: string })
    .filter((line) => line.reqId === id);
  assert.ok(
    lines.some((l) => l.msg === 'incoming request') && lines.some((l) => l.msg === 'request completed'),
    'the same id in its log lines',
  );
  assert.ok(!gw.logs.some((line) => line.includes('chosen-by-client')));

  const behindProxy = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    trustedProxies: ['127.0.0.1', '::1'],
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, unauthenticatedAction: 'AllowAnonymous' }],
  }));
  after(() => behindProxy.close());
  assert.equal(await idSent(behindProxy, { 'x-request-id': 'lb-4711' }), 'lb-4711', "the load balancer's id is kept");
  assert.notEqual(
    await idSent(behindProxy, { 'x-request-id': 'bad id\twith\ttabs' }),
    'bad id\twith\ttabs',
    'only a plain token',
  );
});
