import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isExcludedPath } from '../../src/gateway/rules/excluded-paths.ts';

const patterns = ['/healthz', '/public/*', '/static/app.js'];

test('excluded: exact paths and /path/* prefixes, whatever the query string', () => {
  for (const target of [
    '/healthz',
    '/healthz?probe=1',
    '/public',
    '/public/',
    '/public/a/b.css',
    '/public/a%20b.png',
    '/static/app.js',
    '/public/x?redirect=/admin/../../secret',
  ])
    assert.equal(isExcludedPath(target, patterns), true, target);
});

test('not excluded: every bypass attempt, and near misses', () => {
  const cases: Array<[string, string]> = [
    ['/public/../admin', 'dot-dot segment'],
    ['/public/./../admin', 'dot and dot-dot'],
    ['/public/%2e%2e/admin', 'encoded dots'],
    ['/public/%2E%2E/admin', 'encoded dots, upper case'],
    ['/public/.%2e/admin', 'half-encoded dots'],
    ['/public%2f..%2fadmin', 'encoded slashes'],
    ['/public/..%2fadmin', 'encoded slash after dots'],
    ['/public\\..\\admin', 'backslashes'],
    ['/public/%5c..%5cadmin', 'encoded backslashes'],
    ['/public/..;/admin', 'semicolon parameter (Tomcat-style)'],
    ['/public;x=1/../admin', 'path parameter'],
    ['/healthz;.css', 'semicolon suffix'],
    ['//public/x', 'doubled leading slash'],
    ['/public//../admin', 'doubled slash'],
    ['/admin#/public/x', 'fragment sent raw'],
    ['/admin%23/public/x', 'encoded fragment'],
    ['/admin%3f/public/x', 'encoded question mark'],
    ['/public/%00/../admin', 'encoded NUL'],
    ['/public/%zz', 'malformed percent-encoding'],
    ['/HEALTHZ', 'case trick'],
    ['/Public/x', 'case trick on a prefix'],
    ['/healthz/', 'trailing slash on an exact path'],
    ['/healthzz', 'longer path'],
    ['/publicity', 'prefix without a segment boundary'],
    ['/static/app.js.map', 'longer file name'],
    ['/admin?/healthz', 'excluded path in the query string'],
    ['healthz', 'no leading slash'],
    ['*', 'asterisk form'],
    ['http://x/healthz', 'absolute form'],
  ];
  for (const [target, name] of cases) assert.equal(isExcludedPath(target, patterns), false, `${name}: ${target}`);
});

test('no patterns, nothing excluded', () => {
  assert.equal(isExcludedPath('/healthz', []), false);
});
