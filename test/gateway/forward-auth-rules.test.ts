// originalRequestOf: the original request a proxy describes to /.auth/verify, and every
// description it must refuse (docs/forward-auth.md). The table holds each proxy's real shape, then
// hostile and ambiguous ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { originalRequestOf } from '../../src/gateway/rules/forward-auth.ts';

const raw = (headers: Record<string, string | string[]>) =>
  Object.entries(headers).flatMap(([name, value]) => [value].flat().flatMap((v) => [name, v]));

test("each proxy's shape: the app's host, the path and query as sent, the method, and whether it passes redirects", () => {
  const cases: Array<[string, Parameters<typeof originalRequestOf>[0], object]> = [
    [
      'nginx auth_request (the snippet)',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({
          Host: 'wiki.example.com',
          'X-Forwarded-Host': 'wiki.example.com',
          'X-Original-URI': '/page?q=1',
          'X-Original-Method': 'POST',
        }),
      },
      { host: 'wiki.example.com', url: '/page?q=1', method: 'POST', redirects: false },
    ],
    [
      'Traefik ForwardAuth: Host is SignOnce, the app in X-Forwarded-Host',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({
          Host: 'signonce:8080',
          'X-Forwarded-Host': 'Wiki.Example.com',
          'X-Forwarded-Uri': '/a%2Fb',
          'X-Forwarded-Method': 'DELETE',
          'X-Forwarded-Proto': 'https',
        }),
      },
      { host: 'wiki.example.com', url: '/a%2Fb', method: 'DELETE', redirects: true },
    ],
    [
      'Caddy forward_auth',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({
          Host: 'wiki.example.com:8443',
          'X-Forwarded-Host': 'wiki.example.com:8443',
          'X-Forwarded-Uri': '/',
          'X-Forwarded-Method': 'GET',
        }),
      },
      { host: 'wiki.example.com:8443', url: '/', method: 'GET', redirects: true },
    ],
    [
      'Envoy ext_authz: the original path after the prefix, the original method and Host',
      { path: '/.auth/verify/admin/x?y=1', method: 'PUT', rawHeaders: raw({ Host: 'wiki.example.com' }) },
      { host: 'wiki.example.com', url: '/admin/x?y=1', method: 'PUT', redirects: true },
    ],
    [
      'Envoy ext_authz for the root path',
      { path: '/.auth/verify/', method: 'GET', rawHeaders: raw({ Host: 'wiki.example.com' }) },
      { host: 'wiki.example.com', url: '/', method: 'GET', redirects: true },
    ],
    [
      'both spellings agreeing',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({ Host: 'h', 'X-Original-URI': '/a', 'X-Forwarded-Uri': '/a' }),
      },
      { host: 'h', url: '/a', method: 'GET', redirects: false },
    ],
    [
      'an IPv6 host',
      { path: '/.auth/verify', method: 'GET', rawHeaders: raw({ Host: '[::1]:8080', 'X-Forwarded-Uri': '/' }) },
      { host: '[::1]:8080', url: '/', method: 'GET', redirects: true },
    ],
  ];
  for (const [name, input, expected] of cases) assert.deepEqual(originalRequestOf(input), expected, name);
});

test('refused: every ambiguous or hostile description, with what is wrong', () => {
  const base = { Host: 'wiki.example.com', 'X-Forwarded-Uri': '/' };
  const cases: Array<[string, Parameters<typeof originalRequestOf>[0], RegExp]> = [
    [
      'two X-Forwarded-Host headers',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({ ...base, 'X-Forwarded-Host': ['wiki.example.com', 'admin.example.com'] }),
      },
      /x-forwarded-host names more than one value/,
    ],
    [
      'X-Forwarded-Host as a list',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({ ...base, 'X-Forwarded-Host': 'admin.example.com, wiki.example.com' }),
      },
      /x-forwarded-host names more than one value/,
    ],
    [
      'two X-Original-URI headers',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({ Host: 'h', 'X-Original-URI': ['/public/x', '/admin'] }),
      },
      /x-original-uri names more than one value/,
    ],
    [
      'X-Original-URI and X-Forwarded-Uri disagree (a client added one the proxy passed on)',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({ Host: 'h', 'X-Original-URI': '/admin', 'X-Forwarded-Uri': '/public/x' }),
      },
      /name different requests/,
    ],
    [
      'the methods disagree',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({ ...base, 'X-Original-Method': 'GET', 'X-Forwarded-Method': 'POST' }),
      },
      /different methods/,
    ],
    [
      'an absolute URI (the sender would choose the host)',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({ Host: 'h', 'X-Forwarded-Uri': 'http://admin.example.com/' }),
      },
      /is not a path/,
    ],
    [
      'a scheme-relative target',
      { path: '/.auth/verify', method: 'GET', rawHeaders: raw({ Host: 'h', 'X-Forwarded-Uri': '//admin/' }) },
      null as unknown as RegExp,
    ],
    [
      'an asterisk-form target',
      { path: '/.auth/verify', method: 'GET', rawHeaders: raw({ Host: 'h', 'X-Forwarded-Uri': '*' }) },
      /is not a path/,
    ],
    [
      'a target with a space (a second request line)',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({ Host: 'h', 'X-Forwarded-Uri': '/a HTTP/1.1\r\nHost: admin' }),
      },
      /is not a path/,
    ],
    [
      'no description at all',
      { path: '/.auth/verify', method: 'GET', rawHeaders: raw({ Host: 'h' }) },
      /not described/,
    ],
    [
      'a path after the prefix and a header',
      { path: '/.auth/verify/admin', method: 'GET', rawHeaders: raw({ Host: 'h', 'X-Original-URI': '/public/x' }) },
      /named twice/,
    ],
    [
      'a host with a path in it',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({ Host: 'h', 'X-Forwarded-Host': 'wiki.example.com/evil', 'X-Forwarded-Uri': '/' }),
      },
      /is not a host/,
    ],
    [
      'a host with credentials',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({ Host: 'h', 'X-Forwarded-Host': 'user@wiki.example.com', 'X-Forwarded-Uri': '/' }),
      },
      /is not a host/,
    ],
    [
      'a method that is not a token',
      {
        path: '/.auth/verify',
        method: 'GET',
        rawHeaders: raw({ ...base, 'X-Forwarded-Method': 'GET /admin' }),
      },
      /is not a method/,
    ],
  ];
  for (const [name, input, expected] of cases) {
    const answer = originalRequestOf(input);
    if (expected === null) {
      // '//admin/' is an origin-form path (RFC 9110 7.1 allows empty segments): the app's, never a host.
      assert.deepEqual(answer, { host: 'h', url: '//admin/', method: 'GET', redirects: true }, name);
      continue;
    }
    assert.ok('problem' in answer, `${name}: refused`);
    assert.match(answer.problem, expected, name);
  }
});
