// The route table's matcher with hostile paths: paths are compared as sent (not decoded, no dot
// segments resolved, case-sensitive), so no spelling reaches a handler without its rate limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pathPattern, routes } from '../../src/gateway/route-table.ts';
import { rateLimitOf } from '../../src/gateway/routes.ts';
import { routeLabel } from '../../src/gateway/metrics.ts';

test('pathPattern: {name} is one segment, {name+} the rest, {/name*} an optional tail', () => {
  assert.deepEqual(
    { ...pathPattern('/.auth/login/{provider}').exec('/.auth/login/a%2Fb')?.groups },
    { provider: 'a%2Fb' },
  );
  assert.equal(pathPattern('/.auth/login/{provider}').test('/.auth/login/'), false);
  assert.equal(pathPattern('/.auth/login/{provider}').test('/.auth/login/a/b'), false);
  assert.deepEqual({ ...pathPattern('/x/{uid}/{action+}').exec('/x/u/a/b')?.groups }, { uid: 'u', action: 'a/b' });
  assert.equal(pathPattern('/x/{uid}/{action+}').test('/x/u/'), false);
  for (const path of ['/x', '/x/', '/x/y/z']) assert.ok(pathPattern('/x{/rest*}').test(path), path);
  assert.equal(pathPattern('/x{/rest*}').test('/xy'), false);
  assert.equal(pathPattern('/.auth/me').test('/xauth/me'), false, 'a literal dot is a dot');
  assert.throws(() => pathPattern('/x/{rest*}'), /is not a parameter/);
});

test('route table: dispatch, 405 Allow, rate limit and label of hostile paths', () => {
  // [host, method, path, handled by (route label) or 405 Allow or none, rate limit, metrics label]
  const cases: Array<
    [Parameters<typeof rateLimitOf>[0], string, string, string, ReturnType<typeof rateLimitOf>, string]
  > = [
    ['app', 'GET', '/.auth/login/google', '/.auth/login/{id}', 'sign-in', '/.auth/login/{id}'],
    ['app', 'POST', '/.auth/login/google', '/.auth/login/{id}', 'sign-in', '/.auth/login/{id}'],
    ['app', 'PUT', '/.auth/login/google', 'allow GET, HEAD, POST', 'sign-in', '/.auth/login/{id}'],
    ['app', 'GET', '/.auth/login/done', '/.auth/login/done', 'sign-in', '/.auth/login/done'],
    ['app', 'GET', '/.auth/login/a%2Fb', '/.auth/login/{id}', 'sign-in', '/.auth/login/{id}'],
    ['app', 'GET', '/.auth/login/..', '/.auth/login/{id}', 'sign-in', '/.auth/login/{id}'],
    ['app', 'GET', '/.auth/login/', 'none', undefined, '/.auth/other'],
    ['app', 'GET', '/.auth/login/google/', 'none', undefined, '/.auth/other'],
    ['app', 'GET', '/.auth/me/', 'none', undefined, '/.auth/other'],
    ['app', 'GET', '/.auth/ME', 'none', undefined, '/.auth/other'],
    ['app', 'GET', '/.AUTH/me', 'none', undefined, 'app'],
    ['app', 'GET', '/.auth/./me', 'none', undefined, '/.auth/other'],
    ['app', 'GET', '/x/../.auth/me', 'none', undefined, 'app'],
    ['app', 'GET', '/.auth%2Fme', 'none', undefined, 'app'],
    ['app', 'GET', '//.auth/me', 'none', undefined, 'app'],
    ['app', 'GET', `/.auth/login/${'x'.repeat(10_000)}`, '/.auth/login/{id}', 'sign-in', '/.auth/login/{id}'],
    ['app', 'GET', `/.auth/${'x/'.repeat(5_000)}`, 'none', undefined, '/.auth/other'],
    ['app', 'GET', '/.auth/external/partner', 'allow POST', 'sign-in', '/.auth/external/{id}'],
    ['app', 'GET', '/.auth/unlink/github', 'allow POST', undefined, '/.auth/unlink/{id}'],
    ['app', 'POST', '/.auth/me', 'allow GET, HEAD', undefined, '/.auth/me'],
    ['app', 'GET', '/.auth/oidc/token', 'none', undefined, '/.auth/other'],
    ['auth', 'GET', '/.auth/login/google/start', '/.auth/login/{id}/start', 'sign-in', '/.auth/login/{id}/start'],
    [
      'auth',
      'POST',
      '/.auth/login/google/callback',
      '/.auth/login/{id}/callback',
      'sign-in',
      '/.auth/login/{id}/callback',
    ],
    ['auth', 'POST', '/.auth/login/local/form', '/.auth/login/{id}/form', 'sign-in', '/.auth/login/{id}/form'],
    ['auth', 'GET', '/.auth/login/google/start/', 'none', undefined, 'other'],
    ['auth', 'GET', '/.auth/oidc/auth/', '/.auth/oidc/auth', 'sign-in', '/.auth/oidc/auth'],
    ['auth', 'POST', '/.auth/oidc/token/', '/.auth/oidc/token', 'refresh', '/.auth/oidc/token'],
    [
      'auth',
      'POST',
      '/.auth/oidc/token/revocation',
      '/.auth/oidc/token/revocation',
      undefined,
      '/.auth/oidc/token/revocation',
    ],
    ['auth', 'GET', '/.auth/oidc/authx', 'other', undefined, 'other'],
    ['auth', 'GET', '/.auth/oidc/interaction/abc', '/.auth/oidc/interaction', 'sign-in', '/.auth/oidc/interaction'],
    [
      'auth',
      'POST',
      '/.auth/oidc/interaction/abc/login/x',
      '/.auth/oidc/interaction',
      'sign-in',
      '/.auth/oidc/interaction',
    ],
    ['auth', 'GET', '/.auth/oidc%2Fauth', 'none', undefined, 'other'],
    ['auth', 'HEAD', '/.auth/token', 'allow GET', 'refresh', '/.auth/token'],
    ['auth', 'POST', '/healthz', 'allow GET, HEAD', undefined, '/healthz'],
    ['auth', 'GET', '/.auth/me', 'none', undefined, 'other'],
    ['unknown', 'GET', '/readyz', '/readyz', undefined, '/readyz'],
    ['unknown', 'GET', '/metrics', '/metrics', undefined, '/metrics'],
    ['unknown', 'GET', '/.auth/login/google', 'none', undefined, 'other'],
  ];
  for (const [host, method, path, handled, limit, label] of cases) {
    const found = routes.find(host, method, path);
    const outcome = !found ? 'none' : found.route ? found.route.label : `allow ${found.allow}`;
    assert.equal(outcome, handled, `${host} ${method} ${path.slice(0, 60)}`);
    assert.equal(rateLimitOf(host, path), limit, `${host} ${path.slice(0, 60)}: rate limit`);
    assert.equal(routeLabel(host, path), label, `${host} ${path.slice(0, 60)}: label`);
  }
});
