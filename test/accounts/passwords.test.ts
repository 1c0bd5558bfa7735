// Local passwords and their throttling: the rules as tables of hostile inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_PASSWORD_LENGTH,
  hashPassword,
  normaliseUsername,
  passwordProblem,
  verifyPassword,
} from '../../src/accounts/passwords.ts';
import { ACCOUNT_RULE, ADDRESS_RULE, SECOND_FACTOR_RULE, waitMs } from '../../src/accounts/throttle.ts';
import { join } from 'node:path';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { openStore } from '../../src/store/index.ts';
import { tempDir } from '../support/tmp.ts';

test('normaliseUsername: one spelling per user; nothing invisible, spaced or path-like gets through', () => {
  const cases: Array<[string, string | undefined]> = [
    ['ann', 'ann'],
    ['Ann', 'ann'],
    ['  ann  ', 'ann'],
    ['ＡＮＮ', 'ann'],
    ['ann@example.com', 'ann@example.com'],
    ['jos\u0065\u0301', 'jos\u00e9'],
    ['o.brien-smith_2', 'o.brien-smith_2'],
    ['ann+tag', 'ann+tag'],
    ['', undefined],
    ['   ', undefined],
    ['ann smith', undefined],
    ['ann\u200b', undefined],
    ['\u202eann', undefined],
    ['ann\nadmin', undefined],
    ['ann\u0000', undefined],
    ['../admin', undefined],
    ['.ann', undefined],
    ['-ann', undefined],
    ['ann/..', undefined],
    ['ann;drop', undefined],
    ['a'.repeat(128), 'a'.repeat(128)],
    ['a'.repeat(129), undefined],
    ['😀', undefined],
  ];
  for (const [input, expected] of cases) assert.equal(normaliseUsername(input), expected, JSON.stringify(input));
});

test('passwordProblem: long enough, not too long, not common, not the username, not one repeated character', () => {
  const cases: Array<[string, string, RegExp | undefined]> = [
    ['correct horse battery', 'ann', undefined],
    ['short', 'ann', /at least 12/],
    ['elevenchars', 'ann', /at least 12/],
    ['🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑x', 'ann', undefined],
    ['x'.repeat(MAX_PASSWORD_LENGTH + 1), 'ann', /at most/],
    ['password1234', 'ann', /most commonly used/],
    ['PASSWORD1234', 'ann', /most commonly used/],
    ['qwertyuiop123', 'ann', /most commonly used/],
    ['aaaaaaaaaaaaaaaa', 'ann', /too easy/],
    ['annabelle-2026!', 'annabelle', /too easy/],
    ['my ann is long enough', 'ann', undefined],
  ];
  for (const [password, username, expected] of cases) {
    const problem = passwordProblem(password, username, 12);
    if (expected) assert.match(problem ?? '', expected, password);
    else assert.equal(problem, undefined, password);
  }
});

test('verifyPassword: argon2id; the right password only; an unknown user or a broken hash is no match', async () => {
  const hash = await hashPassword('correct horse battery');
  assert.match(hash, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  assert.notEqual(await hashPassword('correct horse battery'), hash, 'salted');
  assert.equal(await verifyPassword(hash, 'correct horse battery'), true);
  for (const wrong of ['correct horse batterY', '', 'correct horse battery ', '\u0000'])
    assert.equal(await verifyPassword(hash, wrong), false, wrong);
  assert.equal(await verifyPassword(undefined, 'correct horse battery'), false);
  assert.equal(await verifyPassword('not a hash', 'x'), false);
  assert.equal(await verifyPassword('$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA', 'x'), false);
});

test('throttling: free failures, then a doubling wait, capped; forgotten after a day', () => {
  const at = (failures: number, agoMs: number) => ({ failures, lastFailureAt: 1_000_000_000 - agoMs });
  const now = 1_000_000_000;
  const cases: Array<[string, ReturnType<typeof at> | undefined, typeof ACCOUNT_RULE, number]> = [
    ['nothing recorded', undefined, ACCOUNT_RULE, 0],
    ['within the free failures', at(4, 0), ACCOUNT_RULE, 0],
    ['the first that costs', at(5, 0), ACCOUNT_RULE, 1000],
    ['doubling', at(8, 0), ACCOUNT_RULE, 8000],
    ['partly waited', at(8, 3000), ACCOUNT_RULE, 5000],
    ['an account waits at most a minute', at(60, 0), ACCOUNT_RULE, 60_000],
    ['a billion failures still a minute', at(1e9, 0), ACCOUNT_RULE, 60_000],
    ['waited out', at(60, 60_000), ACCOUNT_RULE, 0],
    ['an address has more free failures', at(19, 0), ADDRESS_RULE, 0],
    ['an address waits up to 15 minutes', at(100, 0), ADDRESS_RULE, 900_000],
    ['a day later all is forgotten', at(100, 24 * 3_600_000), ADDRESS_RULE, 0],
    ['second-factor codes: the same free failures', at(5, 0), SECOND_FACTOR_RULE, 1000],
    ['second-factor codes: past a minute', at(12, 0), SECOND_FACTOR_RULE, 128_000],
    ['second-factor codes: up to 15 minutes', at(1e9, 0), SECOND_FACTOR_RULE, 900_000],
    [
      'a failure from the future (clock skew) never waits past the cap',
      { failures: 60, lastFailureAt: now + 3_600_000 },
      ACCOUNT_RULE,
      60_000,
    ],
  ];
  for (const [name, recorded, rule, expected] of cases) assert.equal(waitMs(recorded, now, rule), expected, name);
});

test('a burst of parallel guesses at one user is throttled like guesses one after another', async () => {
  const { dir, remove } = await tempDir();
  const store = await openStore(`sqlite:${join(dir, 'signonce.db')}`, { keyring: new Keyring([generateKey()]) });
  try {
    const accounts = new LocalAccounts(store);
    assert.ok((await accounts.register('local', 'burst', 'a long and unusual passphrase', 12)).ok);
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => accounts.signIn('local', 'burst', `parallel guess ${i}`, `10.1.0.${i}`)),
    );
    const reasons = outcomes.map((o) => (o.ok ? 'ok' : o.reason));
    assert.equal(
      reasons.filter((r) => r === 'invalid').length,
      ACCOUNT_RULE.free,
      'only the free failures were checked',
    );
    assert.equal(reasons.filter((r) => r === 'throttled').length, 20 - ACCOUNT_RULE.free);
  } finally {
    await store.close();
    await remove();
  }
});
