import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring, SealedValueError, decodeKey, generateKey, sealedKeyId } from '../../src/crypto/keyring.ts';

const binding = { purpose: 'provider-tokens', owner: ['account-a', 'google', ''] };

test('seal then open returns the plaintext, and every seal differs', () => {
  const ring = new Keyring([generateKey()]);
  const a = ring.seal('ya29.secret-access-token', binding);
  const b = ring.seal('ya29.secret-access-token', binding);
  assert.notEqual(a, b);
  assert.ok(!a.includes('secret'));
  assert.equal(ring.openString(a, binding), 'ya29.secret-access-token');
  assert.equal(sealedKeyId(a), ring.primaryKeyId);
});

test('rotation: the first key seals, older keys still open', () => {
  const oldKey = generateKey();
  const newKey = generateKey();
  const before = new Keyring([oldKey]).seal('old secret', binding);
  const rotated = new Keyring([newKey, oldKey]);
  assert.equal(rotated.openString(before, binding), 'old secret');
  const after = rotated.seal('new secret', binding);
  assert.equal(sealedKeyId(after), new Keyring([newKey]).primaryKeyId);
  assert.notEqual(sealedKeyId(after), sealedKeyId(before));
  assert.deepEqual(rotated.keyIds, [sealedKeyId(after), sealedKeyId(before)]);
});

test('a value sealed under a key no longer listed fails with unknown-key', () => {
  const sealed = new Keyring([generateKey()]).seal('x', binding);
  assert.throws(
    () => new Keyring([generateKey()]).open(sealed, binding),
    (e: unknown) => e instanceof SealedValueError && e.reason === 'unknown-key',
  );
});

test('wrong binding fails: another owner, another purpose, owner parts shifted', () => {
  const ring = new Keyring([generateKey()]);
  const sealed = ring.seal('x', { purpose: 'p', owner: ['a', 'b'] });
  for (const other of [
    { purpose: 'p', owner: ['account-b', 'b'] },
    { purpose: 'q', owner: ['a', 'b'] },
    { purpose: 'p', owner: ['ab'] },
    { purpose: 'p', owner: ['a', 'b', ''] },
    { purpose: 'p', owner: ['a\u0000b'] },
  ]) {
    assert.throws(
      () => ring.open(sealed, other),
      (e: unknown) => e instanceof SealedValueError && e.reason === 'unauthentic',
      JSON.stringify(other),
    );
  }
});

test('tampered or malformed values fail with a typed error, never garbage', () => {
  const ring = new Keyring([generateKey()]);
  const sealed = ring.seal('a plaintext longer than one GCM tag', binding);
  const [format, kid, body] = sealed.split('.') as [string, string, string];
  const bytes = Buffer.from(body, 'base64url');
  const flipped = (i: number) => {
    const b = Buffer.from(bytes);
    b[i]! ^= 1;
    return `${format}.${kid}.${b.toString('base64url')}`;
  };
  const cases: Array<[string, string, SealedValueError['reason']]> = [
    ['bit flip in IV', flipped(0), 'unauthentic'],
    ['bit flip in ciphertext', flipped(14), 'unauthentic'],
    ['bit flip in tag', flipped(bytes.length - 1), 'unauthentic'],
    ['truncated body', `${format}.${kid}.${bytes.subarray(0, 20).toString('base64url')}`, 'malformed'],
    ['tag removed', `${format}.${kid}.${bytes.subarray(0, bytes.length - 16).toString('base64url')}`, 'unauthentic'],
    ['empty', '', 'malformed'],
    ['plain text', 'ya29.token', 'malformed'],
    ['other format', `v2.${kid}.${body}`, 'malformed'],
    ['extra part', `${sealed}.x`, 'malformed'],
    ['non-base64 body', `${format}.${kid}.${body}!`, 'malformed'],
    ['stray character inside', `${format}.${kid}.${body.slice(0, 10)}!${body.slice(10)}`, 'malformed'],
    ['two stray characters', `${format}.${kid}.${body.slice(0, 10)} \n${body.slice(10)}`, 'malformed'],
    ['padding added', `${format}.${kid}.${body}==`, 'malformed'],
    ['kid swapped', `${format}.AAAAAAAAAAA.${body}`, 'unknown-key'],
  ];
  for (const [name, value, code] of cases) {
    assert.throws(
      () => ring.open(value, binding),
      (e: unknown) => e instanceof SealedValueError && e.reason === code,
      name,
    );
  }
});

test('decodeKey accepts only canonical 32-byte base64url', () => {
  const good = generateKey();
  assert.equal(decodeKey(good)?.length, 32);
  for (const bad of [
    '',
    'abc',
    `${good}=`,
    good.slice(1),
    `${good}A`,
    Buffer.alloc(32).toString('base64'),
    Buffer.alloc(16).toString('base64url'),
    `${good.slice(0, 42)}B` /* non-zero spare bits */,
  ]) {
    assert.equal(decodeKey(bad), undefined, bad);
  }
  assert.throws(() => new Keyring([]), RangeError);
  assert.throws(() => new Keyring([good, 'short']), /encryption key 1/);
});
