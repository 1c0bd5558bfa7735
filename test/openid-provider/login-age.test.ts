import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MULTI_FACTOR_ACR, authenticationSatisfies, loginRequirements } from '../../src/openid-provider/login-age.ts';

test('an earlier authentication answers an OpenID request only within max_age, without prompt=login, and with a second factor when asked', () => {
  const now = Date.parse('2030-01-01T12:00:10.500Z');
  const at = (secondsAgo: number, multiFactor = false) => ({ authTimeMs: now - secondsAgo * 1000, multiFactor });
  const no = { promptLogin: false, maxAge: undefined, multiFactor: false };
  const rows: Array<[string, ReturnType<typeof at>, Parameters<typeof authenticationSatisfies>[1], boolean]> = [
    ['no max_age, no prompt', at(86_400), no, true],
    ['prompt=login, just now', at(0), { ...no, promptLogin: true }, false],
    ['prompt=login within a large max_age', at(1), { ...no, promptLogin: true, maxAge: 3600 }, false],
    ['max_age=0 is prompt=login, even this second', at(0), { ...no, maxAge: 0 }, false],
    ['max_age=1, four seconds ago', at(4), { ...no, maxAge: 1 }, false],
    ['max_age=1, in the same second', at(0.4), { ...no, maxAge: 1 }, true],
    ['max_age=60, exactly 60 whole seconds ago', at(60), { ...no, maxAge: 60 }, true],
    ['max_age=60, 61 whole seconds ago', at(61), { ...no, maxAge: 60 }, false],
    ['an authentication in the future (clock skew between instances)', at(-5), { ...no, maxAge: 1 }, true],
    ['multi-factor asked, one factor proved', at(1), { ...no, multiFactor: true }, false],
    ['multi-factor asked and proved', at(86_400, true), { ...no, multiFactor: true }, true],
    ['multi-factor proved, but too long ago', at(61, true), { ...no, multiFactor: true, maxAge: 60 }, false],
    ['multi-factor proved, prompt=login', at(0, true), { ...no, multiFactor: true, promptLogin: true }, false],
    ['multi-factor proved, not asked', at(1, true), no, true],
  ];
  for (const [name, earlier, requirements, satisfies] of rows)
    assert.equal(authenticationSatisfies(earlier, requirements, now), satisfies, name);
});

test('login requirements from authorization parameters: hostile values read as strictly as possible', () => {
  const no = { promptLogin: false, maxAge: undefined, multiFactor: false };
  assert.deepEqual(loginRequirements({}), no);
  assert.deepEqual(loginRequirements({ prompt: 'consent login', max_age: '300' }), {
    ...no,
    promptLogin: true,
    maxAge: 300,
  });
  assert.deepEqual(loginRequirements({ prompt: 'consent', max_age: 5 }), { ...no, maxAge: 5 });
  for (const maxAge of ['-1', '1.5', 'abc', '', '1e400', 'Infinity', '9007199254740993']) {
    assert.deepEqual(loginRequirements({ max_age: maxAge }), { ...no, maxAge: 0 }, maxAge);
  }
  assert.equal(loginRequirements({ prompt: 'nologin' }).promptLogin, false);
  const rows: Array<[unknown, boolean]> = [
    [MULTI_FACTOR_ACR, true],
    [`urn:other ${MULTI_FACTOR_ACR}`, true],
    ['urn:other', false],
    [`${MULTI_FACTOR_ACR}/`, false],
    [MULTI_FACTOR_ACR.toUpperCase(), false],
    [[MULTI_FACTOR_ACR], false],
    [undefined, false],
  ];
  for (const [acrValues, multiFactor] of rows)
    assert.equal(loginRequirements({ acr_values: acrValues }).multiFactor, multiFactor, JSON.stringify(acrValues));
});
