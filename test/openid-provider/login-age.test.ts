import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authenticationSatisfies, loginRequirements } from '../../src/openid-provider/login-age.ts';

test('an earlier authentication answers an OpenID request only within max_age and without prompt=login', () => {
  const now = Date.parse('2030-01-01T12:00:10.500Z');
  const at = (secondsAgo: number) => now - secondsAgo * 1000;
  const rows: Array<[string, number, Parameters<typeof authenticationSatisfies>[1], boolean]> = [
    ['no max_age, no prompt', at(86_400), { promptLogin: false, maxAge: undefined }, true],
    ['prompt=login, just now', at(0), { promptLogin: true, maxAge: undefined }, false],
    ['prompt=login within a large max_age', at(1), { promptLogin: true, maxAge: 3600 }, false],
    ['max_age=0 is prompt=login, even this second', at(0), { promptLogin: false, maxAge: 0 }, false],
    ['max_age=1, four seconds ago', at(4), { promptLogin: false, maxAge: 1 }, false],
    ['max_age=1, in the same second', at(0.4), { promptLogin: false, maxAge: 1 }, true],
    ['max_age=60, exactly 60 whole seconds ago', at(60), { promptLogin: false, maxAge: 60 }, true],
    ['max_age=60, 61 whole seconds ago', at(61), { promptLogin: false, maxAge: 60 }, false],
    ['an authentication in the future (clock skew between instances)', at(-5), { promptLogin: false, maxAge: 1 }, true],
  ];
  for (const [name, authTime, requirements, satisfies] of rows)
    assert.equal(authenticationSatisfies(authTime, requirements, now), satisfies, name);
});

test('login requirements from authorization parameters: hostile max_age values read as strictly as possible', () => {
  assert.deepEqual(loginRequirements({}), { promptLogin: false, maxAge: undefined });
  assert.deepEqual(loginRequirements({ prompt: 'consent login', max_age: '300' }), { promptLogin: true, maxAge: 300 });
  assert.deepEqual(loginRequirements({ prompt: 'consent', max_age: 5 }), { promptLogin: false, maxAge: 5 });
  for (const maxAge of ['-1', '1.5', 'abc', '', '1e400', 'Infinity', '9007199254740993']) {
    assert.deepEqual(loginRequirements({ max_age: maxAge }), { promptLogin: false, maxAge: 0 }, maxAge);
  }
  assert.equal(loginRequirements({ prompt: 'nologin' }).promptLogin, false);
});
