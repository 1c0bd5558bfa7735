// Properties of sealed values (Keyring.open) and of session cookies built on them:
// - open throws only SealedValueError, whatever the string; random sealed-looking values never open;
// - a sealed value opens to its plaintext under exactly its binding (purpose and owner), nothing else;
// - a sealed value with any byte of its body changed never opens; a value changed in its text
//   opens only if it still decodes to the same bytes (a base64url character's spare bits);
// - a session cookie opens only on the host it was issued for, and openSessionCookie never throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Keyring, SealedValueError, generateKey, type Binding } from '../../src/crypto/keyring.ts';
import { openSessionCookie, sealSessionCookie } from '../../src/session/cookies.ts';
import { anyString, params } from './support.ts';

const ring = new Keyring([generateKey(), generateKey()]);
const other = new Keyring([generateKey()]);
const BASE64URL = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'];

/** What open did: the plaintext, or the reason of the SealedValueError (anything else fails the property). */
function attempt(sealed: string, binding: Binding): Buffer | SealedValueError['reason'] {
  try {
    return ring.open(sealed, binding);
  } catch (error) {
    assert.ok(error instanceof SealedValueError, `not a SealedValueError: ${String(error)}`);
    assert.ok(['malformed', 'unknown-key', 'unauthentic'].includes(error.reason));
    return error.reason;
  }
}

const bindingArb: fc.Arbitrary<Binding> = fc.record({
  purpose: anyString(12),
  owner: fc.array(anyString(8), { maxLength: 3 }),
});
const plaintextArb = fc.oneof(fc.uint8Array({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 40 }));
const bytesOf = (plaintext: string | Uint8Array) => Buffer.from(plaintext);
const parts = (sealed: string) => sealed.split('.') as [string, string, string];

test('open: only SealedValueError for any string; random sealed-looking values never open', () => {
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b).toString('base64url')),
    anyString(40),
  );
  const kid = fc.constantFrom(...ring.keyIds, ...other.keyIds, 'AAAAAAAAAAA', '');
  const values = fc.oneof(
    anyString(60),
    fc.tuple(fc.constantFrom('v1', 'v2', 'V1', ''), kid, body).map((p) => p.join('.')),
  );
  fc.assert(
    fc.property(values, bindingArb, (value, binding) => {
      assert.ok(!Buffer.isBuffer(attempt(value, binding)), 'a value nobody sealed opened');
    }),
    params(1000),
  );
});

test('open: exactly the binding it was sealed with', () => {
  fc.assert(
    fc.property(plaintextArb, bindingArb, bindingArb, (plaintext, sealedFor, openedWith) => {
      const sealed = ring.seal(plaintext, sealedFor);
      assert.deepEqual(attempt(sealed, sealedFor), bytesOf(plaintext));
      const same =
        sealedFor.purpose === openedWith.purpose &&
        JSON.stringify(sealedFor.owner) === JSON.stringify(openedWith.owner);
      if (!same) assert.equal(attempt(sealed, openedWith), 'unauthentic');
      assert.equal(other.keyIds.includes(parts(sealed)[1]), false);
    }),
    params(500),
  );
});

test('open: any changed byte of the body never opens; a changed character opens only if the bytes are the same', () => {
  fc.assert(
    fc.property(
      plaintextArb,
      bindingArb,
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      fc.nat(),
      fc.constantFrom(...BASE64URL, '.', '=', '!', ' '),
      (plaintext, binding, at, mask, charAt, replacement) => {
        const sealed = ring.seal(plaintext, binding);
        const [format, kid, body] = parts(sealed);
        const bytes = Buffer.from(body, 'base64url');
        // Every byte of the body, one at a time, and one random one: each must be refused.
        for (const i of [at % bytes.length, ...bytes.keys()]) {
          const flipped = Buffer.from(bytes);
          flipped[i]! ^= mask;
          assert.equal(
            typeof attempt(`${format}.${kid}.${flipped.toString('base64url')}`, binding),
            'string',
            `byte ${i} changed, and it opened`,
          );
        }
        // Every character of the text replaced in turn (format, key id, body): opens only with the same bytes.
        for (let i = 0; i < sealed.length; i++) {
          const changed =
            sealed.slice(0, i) +
            (i === charAt % sealed.length ? replacement : BASE64URL[(charAt + i) % 64]) +
            sealed.slice(i + 1);
          if (changed === sealed || !Buffer.isBuffer(attempt(changed, binding))) continue;
          const [f, k, b] = parts(changed);
          assert.ok(f === format && k === kid && Buffer.from(b, 'base64url').equals(bytes), `${changed} opened`);
        }
      },
    ),
    params(300, 200),
  );
});

test('session cookies: open only on the host they were issued for (any case), never throw', () => {
  const host = fc.oneof(
    fc.domain(),
    fc.constantFrom('app1.localhost:8080', 'APP1.localhost:8080', 'app2.localhost:8080', ''),
  );
  fc.assert(
    fc.property(anyString(30), host, host, (secret, issuedTo, presentedAt) => {
      const cookie = sealSessionCookie(ring, secret, issuedTo);
      const opened = openSessionCookie(ring, cookie, presentedAt);
      if (issuedTo.toLowerCase() === presentedAt.toLowerCase())
        assert.equal(opened, Buffer.from(secret).toString('utf8'));
      else assert.equal(opened, undefined);
    }),
    params(500),
  );
  fc.assert(
    fc.property(anyString(80), host, (value, at) => {
      assert.equal(openSessionCookie(ring, value, at), undefined);
    }),
    params(500),
  );
});
