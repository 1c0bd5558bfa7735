// passkeys.rpId: the auth host's name or a parent domain of it, never a public suffix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relyingPartyIdProblem } from '../../src/config/relying-party.ts';

test('relyingPartyIdProblem: the host or a parent domain up to the registrable one; hostile and odd values refused', () => {
  const rows: Array<[string, string, RegExp | undefined]> = [
    ['auth.example.com', 'auth.example.com', undefined],
    ['example.com', 'auth.example.com', undefined],
    ['example.com', 'sso.auth.example.com', undefined],
    ['auth.example.com', 'sso.auth.example.com', undefined],
    ['example.co.uk', 'auth.example.co.uk', undefined],
    ['auth.example.com', 'AUTH.example.com', undefined],
    ['com', 'auth.example.com', /is a public suffix.*"example\.com"/],
    ['co.uk', 'auth.example.co.uk', /is a public suffix.*"example\.co\.uk"/],
    ['uk', 'auth.example.co.uk', /is a public suffix/],
    // A private registry of the Public Suffix List: a user's site is its own registrable domain.
    ['github.io', 'signonce.github.io', /is a public suffix.*"signonce\.github\.io"/],
    ['evil.com', 'auth.example.com', /neither the auth host's name \(auth\.example\.com\) nor a parent domain/],
    ['ample.com', 'auth.example.com', /neither/],
    ['example.com.evil.net', 'auth.example.com', /neither/],
    ['auth.example.com.', 'auth.example.com', /neither/],
    ['.example.com', 'auth.example.com', /neither/],
    ['', 'auth.example.com', /neither/],
    ['sub.auth.example.com', 'auth.example.com', /neither/],
    ['Example.com', 'auth.example.com', /upper-case/],
    ['0.1', '127.0.0.1', /IP address/],
    ['127.0.0.1', '127.0.0.1', undefined],
    ['localhost', 'auth.localhost', /is a public suffix/],
  ];
  for (const [rpId, host, problem] of rows) {
    const found = relyingPartyIdProblem(rpId, host);
    if (problem === undefined) assert.equal(found, undefined, `${rpId} on ${host}`);
    else assert.match(found ?? '', problem, `${rpId} on ${host}`);
  }
});
