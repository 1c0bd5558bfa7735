// Claims about the sign-in itself count only from its ID token, and a sign-in asked to be new must be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AUTH_TIME_TOLERANCE_SECONDS,
  profileClaims,
  staleAuthentication,
} from '../../src/providers/authentication-event.ts';

test('profileClaims: a profile cannot say how or when the user authenticated', () => {
  const profile = { sub: 'u1', email: 'u1@example.com', amr: ['pwd', 'otp', 'mfa'], acr: 'urn:mfa', auth_time: 1 };
  assert.deepEqual(profileClaims(profile), { sub: 'u1', email: 'u1@example.com' });
  assert.deepEqual(profile.amr, ['pwd', 'otp', 'mfa'], 'the source is left as it was');
  assert.deepEqual(profileClaims({ AMR: 'mfa', amrx: 'mfa' }), { AMR: 'mfa', amrx: 'mfa' }, 'only the exact names');
});

test('staleAuthentication: auth_time must be after the sign-in started (30 s tolerance)', () => {
  const started = Date.parse('2026-12-06T12:00:00Z');
  const at = (ms: number) => (started + ms) / 1000;
  const rows: Array<[unknown, boolean]> = [
    [at(0), true],
    [at(5_000), true],
    [at(-AUTH_TIME_TOLERANCE_SECONDS * 1000), true],
    [at(-AUTH_TIME_TOLERANCE_SECONDS * 1000 - 1000), false],
    [at(-86_400_000), false],
    [undefined, false],
    [null, false],
    [String(at(0)), false],
    [Number.NaN, false],
    [Number.POSITIVE_INFINITY, false],
    [[at(0)], false],
  ];
  for (const [authTime, fresh] of rows)
    assert.equal(staleAuthentication(authTime, started) === undefined, fresh, JSON.stringify(authTime));
  assert.match(
    staleAuthentication(at(-3_600_000), started)!,
    /did not authenticate the user anew.*2026-12-06T11:00:00/,
  );
  assert.match(staleAuthentication(undefined, started)!, /no auth_time/);
});
