// The step-up rule: what counts as a second factor (RFC 8176 amr), and how old a sign-in may be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acrOf, provesMultiFactor, unmetRequirement } from '../../src/access/step-up.ts';

test('provesMultiFactor: mfa, or methods of two kinds of factor; hostile and odd values prove nothing', () => {
  const rows: Array<[readonly string[], boolean]> = [
    [['mfa'], true],
    [['pwd', 'otp'], true],
    [['pwd', 'otp', 'mfa'], true],
    [['pin', 'hwk'], true],
    [['hwk', 'fpt'], true],
    [['pwd'], false],
    [['otp'], false],
    [['pwd', 'pin', 'kba'], false],
    [['otp', 'sms', 'hwk'], false],
    [[], false],
    [['MFA'], false],
    [['mfa '], false],
    [['pwd', 'OTP'], false],
    [['pwd', 'user'], false],
    [['pwd', 'constructor'], false],
    [['pwd', '__proto__'], false],
    [['pwd', 'toString'], false],
  ];
  for (const [amr, proves] of rows) assert.equal(provesMultiFactor({ amr }), proves, JSON.stringify(amr));
});

test("provesMultiFactor: an acr listed in the provider's mfaAcrValues, compared exactly; nothing else", () => {
  const MFA = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';
  const rows: Array<[string | undefined, readonly string[] | undefined, readonly string[], boolean]> = [
    [MFA, [MFA], [], true],
    [MFA, ['urn:other', MFA], ['pwd'], true],
    ['urn:other', [MFA], [], false],
    [MFA, undefined, [], false],
    [MFA, [], [], false],
    [MFA.toUpperCase(), [MFA], [], false],
    [`${MFA} `, [MFA], [], false],
    ['', [MFA], [], false],
    [undefined, [MFA], [], false],
    [JSON.stringify([MFA]), [MFA], [], false],
    ['0', ['0 '], [], false],
    // amr still speaks for itself when acr does not.
    ['urn:other', [MFA], ['pwd', 'otp'], true],
  ];
  for (const [acr, mfaAcrValues, amr, proves] of rows)
    assert.equal(provesMultiFactor({ amr, acr, mfaAcrValues }), proves, JSON.stringify([acr, mfaAcrValues, amr]));
});

test('acrOf: the one acr claim; none or several are no answer', () => {
  const rows: Array<[Array<{ typ: string; val: string }>, string | undefined]> = [
    [[{ typ: 'acr', val: 'a' }], 'a'],
    [
      [
        { typ: 'amr', val: 'mfa' },
        { typ: 'acr', val: 'a' },
      ],
      'a',
    ],
    [[], undefined],
    [[{ typ: 'ACR', val: 'a' }], undefined],
    [
      [
        { typ: 'acr', val: 'a' },
        { typ: 'acr', val: 'b' },
      ],
      undefined,
    ],
    [
      [
        { typ: 'acr', val: 'a' },
        { typ: 'acr', val: 'a' },
      ],
      undefined,
    ],
  ];
  for (const [claims, acr] of rows) assert.equal(acrOf(claims), acr, JSON.stringify(claims));
});

test('unmetRequirement: a second factor and/or a recent sign-in; what is missing in words', () => {
  const now = Date.parse('2026-12-06T12:00:00Z');
  const TEN = 10 * 60_000;
  const rows: Array<[Parameters<typeof unmetRequirement>[0], string[], number, string | undefined]> = [
    [undefined, ['pwd'], now - 86_400_000, undefined],
    [{ mfa: false }, ['pwd'], now, undefined],
    [{ mfa: true }, ['pwd', 'otp', 'mfa'], now - 86_400_000, undefined],
    [{ mfa: true }, ['pwd'], now, 'this needs a sign-in with a second factor'],
    [{ mfa: false, maxAgeMs: TEN }, ['pwd'], now - TEN, undefined],
    [{ mfa: false, maxAgeMs: TEN }, ['pwd'], now - TEN - 1, 'this needs a sign-in within the last 10 min'],
    [{ mfa: false, maxAgeMs: TEN }, ['pwd'], now + 3_600_000, undefined],
    [{ mfa: false, maxAgeMs: TEN }, ['pwd'], Number.NaN, 'this needs a sign-in within the last 10 min'],
    [
      { mfa: true, maxAgeMs: TEN },
      ['pwd'],
      now - 2 * TEN,
      'this needs a sign-in with a second factor and a sign-in within the last 10 min',
    ],
    [{ mfa: true, maxAgeMs: TEN }, ['mfa'], now - 2 * TEN, 'this needs a sign-in within the last 10 min'],
  ];
  for (const [requirement, amr, authTime, reason] of rows)
    assert.equal(
      unmetRequirement(requirement, { amr, authTime }, now)?.reason,
      reason,
      JSON.stringify([requirement, amr, authTime - now]),
    );
});
