// Properties of the forwarding headers and of the client address through trusted proxies:
// - trustedProxyMatcher agrees with a reference matcher (addresses as integers, prefixes as bit
//   masks; an IPv4-mapped IPv6 address is its IPv4 address);
// - clientAddress, for a request that came from a client (untrusted) through a chain of trusted
//   proxies, with anything the client wrote to the left of it, is that client: never an address the
//   client chose, never one of the proxies; and from an untrusted sender, the sender itself;
// - forwardedHeaders never passes on what an untrusted sender claimed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { isAddressOrNetwork } from '../../src/config/schema.ts';
import { clientAddress, forwardedHeaders, trustedProxyMatcher } from '../../src/gateway/rules/forwarded.ts';
import { Tally, anyString, params } from './support.ts';

const MAPPED = 0xffffn << 32n; // ::ffff:0:0/96, where IPv4 addresses live in IPv6

/** An address as a 128-bit number, IPv4 ones mapped (::ffff:a.b.c.d), so both families compare alike. */
function numeric(address: string): bigint | undefined {
  if (isIP(address) === 4) return MAPPED | address.split('.').reduce((n, part) => (n << 8n) | BigInt(part), 0n);
  if (isIP(address) !== 6) return undefined;
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (dotted) {
    const v4 = numeric(dotted)! & 0xffffffffn;
    text = `${text.slice(0, -dotted.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [
    ...left,
    ...Array<string>(tail === undefined ? 0 : 8 - left.length - right.length).fill('0'),
    ...right,
  ];
  return groups.reduce((n, group) => (n << 16n) | BigInt(parseInt(group, 16)), 0n);
}

/** Whether `address` lies in `entry` (an address, or a network in CIDR notation): the top bits agree. */
function inEntry(address: string, entry: string): boolean {
  const [base, prefix] = entry.split('/') as [string, string | undefined];
  const a = numeric(address);
  const n = numeric(base);
  if (a === undefined || n === undefined) return false;
  const bits = prefix === undefined ? 128 : Number(prefix) + (isIP(base) === 4 ? 96 : 0);
  const shift = BigInt(128 - bits);
  return a >> shift === n >> shift;
}

const ipv4 = fc.oneof(
  fc.ipV4(),
  fc.constantFrom('10.0.0.1', '10.255.255.255', '11.0.0.0', '127.0.0.1', '192.168.1.7', '0.0.0.0'),
);
const ipv6 = fc.oneof(fc.ipV6(), fc.constantFrom('::1', 'fd00::1', 'fd12:3456::7', 'fe80::1', '::'));
const address = fc.oneof(
  ipv4,
  ipv6,
  ipv4.map((a) => `::ffff:${a}`),
);
const entry = fc.oneof(
  address,
  fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`),
  fc.tuple(ipv6, fc.integer({ min: 0, max: 128 })).map(([a, p]) => `${a}/${p}`),
  fc.tuple(ipv4, fc.integer({ min: 96, max: 128 })).map(([a, p]) => `::ffff:${a}/${p}`),
);
const entries = fc.array(entry, { minLength: 1, maxLength: 4 });

test('trustedProxyMatcher agrees with a reference matcher, for every entry the config accepts', () => {
  fc.assert(
    fc.property(entries, fc.array(address, { minLength: 1, maxLength: 5 }), (list, addresses) => {
      assert.ok(list.every(isAddressOrNetwork), 'the config accepts these entries');
      const trusted = trustedProxyMatcher(list);
      for (const a of addresses)
        assert.equal(
          trusted(a),
          list.some((e) => inEntry(a, e)),
          `${a} in ${list.join(', ')}`,
        );
    }),
    params(1000),
  );
  // Anything at all as the address: no throw, never trusted unless it is an address.
  fc.assert(
    fc.property(entries, anyString(), (list, text) => {
      if (trustedProxyMatcher(list)(text)) assert.ok(isIP(text.replace(/^::ffff:/, '')) !== 0);
    }),
    params(300),
  );
});

// What a client may write into X-Forwarded-For before its request reaches the first proxy.
const spoofed = fc.oneof(
  address,
  fc.constantFrom('unknown', '', ' ', '_hidden', '1.2.3.4:80', '[::1]', 'evil.example', '127.0.0.1 '),
);

test('clientAddress: through trusted proxies, the client itself; never an address it wrote, never a proxy', () => {
  const seen = new Tally();
  const cases = fc
    .tuple(
      entries,
      address,
      fc.array(address, { minLength: 1, maxLength: 4 }),
      fc.array(spoofed, { maxLength: 3 }),
      fc.nat(),
      fc.boolean(),
    )
    .filter(([list, client]) => !list.some((e) => inEntry(client, e)));
  fc.assert(
    fc.property(cases, ([list, client, hops, written, cut, asArray]) => {
      const trusted = trustedProxyMatcher(list);
      const proxies = hops.filter((hop) => list.some((e) => inEntry(hop, e)));
      if (proxies.length === 0) {
        // From an untrusted sender, whatever it wrote: the sender.
        assert.equal(clientAddress(client, [...written, ...hops].join(', '), trusted), client);
        return;
      }
      // Each proxy appends the address it was reached from; the last one connects to SignOnce.
      const chain = [...written, client, ...proxies.slice(0, -1)];
      // Sent as one header, or as two (each a list of whole hops).
      const at = cut % (chain.length + 1);
      const sent = asArray ? [chain.slice(0, at).join(', '), chain.slice(at).join(', ')] : chain.join(', ');
      const found = clientAddress(proxies.at(-1)!, sent, trusted);
      // A chain holding something that is not an address is not believed at all (blank entries are no entries).
      const believable = written.every((hop) => hop.trim() === '' || isIP(hop.trim()) !== 0);
      seen.add(believable ? 'client' : 'proxy');
      assert.equal(found, believable ? client : proxies.at(-1)!);
    }),
    params(1000),
  );
  assert.ok(seen.get('client') > 0);
  // Anything at all: no throw; the connection's address or an address from the header.
  fc.assert(
    fc.property(
      entries,
      address,
      fc.oneof(anyString(60), fc.array(anyString(20), { maxLength: 3 })),
      (list, remote, header) => {
        const found = clientAddress(remote, header, trustedProxyMatcher(list));
        assert.ok(found === remote || (isIP(found) !== 0 && [header].flat().join(',').includes(found)));
      },
    ),
    params(500),
  );
});

test("forwardedHeaders: an untrusted sender's forwarding claims are replaced, a trusted proxy's chain extended", () => {
  const claims = fc.dictionary(
    fc.constantFrom('x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded'),
    fc.oneof(anyString(20), fc.array(anyString(10), { maxLength: 2 })),
  );
  fc.assert(
    fc.property(
      address,
      claims,
      fc.boolean(),
      fc.constantFrom('http', 'https'),
      fc.domain(),
      (remote, headers, trusted, proto, host) => {
        const out = Object.fromEntries(forwardedHeaders({ remoteAddress: remote, trusted, headers, proto, host }));
        if (!trusted)
          assert.deepEqual(out, { 'x-forwarded-for': remote, 'x-forwarded-proto': proto, 'x-forwarded-host': host });
        else assert.ok(out['x-forwarded-for']!.endsWith(remote), 'the chain ends with the proxy that connected');
      },
    ),
    params(500),
  );
});
