import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dropsForwardingHeader,
  forwardedHeaders,
  openIdProviderHeaders,
  trustedProxyMatcher,
} from '../../src/gateway/rules/forwarded.ts';

test('trustedProxies: addresses and networks, IPv4-mapped IPv6 included; nothing else trusted', () => {
  const trusted = trustedProxyMatcher(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
  for (const address of ['10.1.2.3', '::ffff:10.9.9.9', '192.168.1.7', 'fd12::1'])
    assert.equal(trusted(address), true, address);
  for (const address of ['11.0.0.1', '192.168.1.8', '127.0.0.1', 'fe80::1', '', 'not-an-ip', '10.0.0.1.evil'])
    assert.equal(trusted(address), false, address);
  assert.equal(trustedProxyMatcher([])('127.0.0.1'), false);
});

test("forwarded headers: a client's own claims are replaced; a trusted proxy's chain is extended", () => {
  const spoofed = { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'admin.internal' };
  assert.deepEqual(
    forwardedHeaders({
      remoteAddress: '203.0.113.9',
      trusted: false,
      headers: spoofed,
      proto: 'http',
      host: 'app1.localhost',
    }),
    [
      ['x-forwarded-for', '203.0.113.9'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'app1.localhost'],
    ],
  );
  assert.deepEqual(
    forwardedHeaders({
      remoteAddress: '10.0.0.2',
      trusted: true,
      headers: spoofed,
      proto: 'http',
      host: 'app1.localhost',
    }),
    [
      ['x-forwarded-for', '1.2.3.4, 10.0.0.2'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'admin.internal'],
    ],
  );
  assert.deepEqual(
    forwardedHeaders({ remoteAddress: '10.0.0.2', trusted: true, headers: {}, proto: 'https', host: 'a.example' }),
    [
      ['x-forwarded-for', '10.0.0.2'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'a.example'],
    ],
  );
  for (const name of [
    'X-Forwarded-For',
    'x-forwarded-host',
    'Forwarded',
    'X-FORWARDED-PROTO',
    'X-Forwarded-Port',
    'X-Real-IP',
    'X-Forwarded-Prefix',
  ]) {
    assert.equal(dropsForwardingHeader(name, false), true, `${name} from a client`);
  }
  for (const name of ['Forwarded', 'X-Forwarded-Port', 'X-Real-IP'])
    assert.equal(dropsForwardingHeader(name, true), false, `${name} from a trusted proxy`);
  for (const name of ['X-Forwarded-For', 'X-Forwarded-Host'])
    assert.equal(dropsForwardingHeader(name, true), true, `${name}: SignOnce sets it`);
  assert.equal(dropsForwardingHeader('X-Request-Id', false), false);
});

test("the OpenID Provider sees publicUrl's scheme and host whatever a client or proxy sent, and SignOnce's client address", () => {
  const publicUrl = new URL('https://auth.example.com');
  const hostile: Array<Record<string, string | string[]>> = [
    {},
    { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' },
    { 'x-forwarded-host': ['evil.example', 'auth.example.com'], 'x-forwarded-proto': 'https, http' },
    {
      forwarded: 'host=evil.example;proto=http;for=1.2.3.4',
      'x-real-ip': '1.2.3.4',
      'x-forwarded-port': '8443',
      'x-forwarded-prefix': '/evil',
    },
    { 'X-Forwarded-Host': 'evil.example', 'X-FORWARDED-FOR': '1.2.3.4' },
  ];
  for (const sent of hostile) {
    const seen = openIdProviderHeaders({ host: 'auth.example.com', cookie: 'c=1', ...sent }, publicUrl, '203.0.113.9');
    assert.deepEqual(
      seen,
      {
        host: 'auth.example.com',
        cookie: 'c=1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'auth.example.com',
        'x-forwarded-for': '203.0.113.9',
      },
      JSON.stringify(sent),
    );
  }
});
