// Which redirect URIs an OpenID client may register: a table of hostile and ordinary ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redirectUriProblem } from '../../src/config/redirect-uris.ts';

test('redirectUriProblem: exact https (or loopback http, or a reverse-domain app scheme); nothing else', () => {
  const cases: Array<[string, RegExp | undefined]> = [
    ['https://wiki.example.com/oidc/callback', undefined],
    ['https://wiki.example.com/cb?tenant=1', undefined],
    ['http://127.0.0.1:8400/cb', undefined],
    ['http://localhost/cb', undefined],
    ['http://[::1]:9000/cb', undefined],
    ['http://wiki.localhost:8080/cb', undefined],
    ['com.example.app:/oauth2redirect', undefined],
    ['https://*.example.com/cb', /wildcard/],
    ['https://wiki.example.com/*', /wildcard/],
    ['https://wiki.example.com/cb#frag', /fragment/],
    ['https://wiki.example.com/cb#', /fragment/],
    ['https://user:pass@wiki.example.com/cb', /credentials/],
    ['http://wiki.example.com/cb', /plain http/],
    ['http://localhost.evil.com/cb', /plain http/],
    ['http://127.0.0.1.nip.io/cb', /plain http/],
    ['javascript:alert(1)//', /javascript:/],
    ['data:text/html,hi', /data:/],
    ['file:///etc/passwd', /file:/],
    ['myapp://callback', /reverse domain/],
    ['/relative/cb', /not an absolute URL/],
    ['', /not an absolute URL/],
  ];
  for (const [uri, expected] of cases) {
    const problem = redirectUriProblem(uri);
    if (expected) assert.match(problem ?? '', expected, uri);
    else assert.equal(problem, undefined, uri);
  }
});
