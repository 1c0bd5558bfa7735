// Second factors against real stores (a SQLite file, PostgreSQL): TOTP as RFC 6238 defines it
// (its Appendix B vectors), enrolment, each code accepted once, hostile input, recovery codes,
// throttling, and nothing of the secret or the recovery codes in clear at rest. Codes are computed
// by the test from the enrolment secret, as an authenticator app computes them.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Secret, TOTP } from 'otpauth';
import { SecondFactors } from '../../src/accounts/second-factor.ts';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { postgresHarness, sqliteHarness } from '../store/support/harnesses.ts';

const STEP_MS = 30_000;
const BASE = Date.UTC(2025, 5, 1, 12, 0, 10);

/** The code an authenticator app shows for `secret` at `timestamp`. */
const codeAt = (secret: string, timestamp: number) => TOTP.generate({ secret: Secret.fromBase32(secret), timestamp });
const fullWidth = (digits: string) => digits.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)));
const arabicIndic = (digits: string) => digits.replace(/[0-9]/g, (d) => String.fromCharCode(0x0660 + Number(d)));

interface Enrolled {
  readonly accountId: string;
  readonly secret: string;
  readonly recoveryCodes: readonly string[];
  /** The code of the step `offset` steps from now. */
  code(offset?: number): string;
  /** A 6-digit code of no step from 3 before to 3 after now. */
  wrongCode(): string;
}

/** A table row: what is typed, in order, and what each should give. */
interface Row {
  readonly name: string;
  readonly attempts: (me: Enrolled, other: Enrolled) => Array<[string, 'otp' | 'recovery' | 'invalid']>;
}

const ROWS: readonly Row[] = [
  { name: 'the current code', attempts: (me) => [[me.code(), 'otp']] },
  { name: 'a wrong code', attempts: (me) => [[me.wrongCode(), 'invalid']] },
  { name: 'the code of two steps before', attempts: (me) => [[me.code(-2), 'invalid']] },
  { name: 'the code of two steps after', attempts: (me) => [[me.code(2), 'invalid']] },
  { name: 'the code of the step before', attempts: (me) => [[me.code(-1), 'otp']] },
  { name: 'the code of the step after', attempts: (me) => [[me.code(1), 'otp']] },
  {
    name: 'the same code twice',
    attempts: (me) => [
      [me.code(), 'otp'],
      [me.code(), 'invalid'],
    ],
  },
  {
    name: 'a code of an earlier step after a later one was used',
    attempts: (me) => [
      [me.code(1), 'otp'],
      [me.code(), 'invalid'],
      [me.code(-1), 'invalid'],
    ],
  },
  {
    name: 'full-width and Arabic-Indic digits are no digits (and use nothing up)',
    attempts: (me) => [
      [fullWidth(me.code()), 'invalid'],
      [arabicIndic(me.code()), 'invalid'],
      [me.code(), 'otp'],
    ],
  },
  { name: '7 digits', attempts: (me) => [[`${me.code()}0`, 'invalid']] },
  {
    name: 'spaces inside, as apps show it',
    attempts: (me) => [[` ${me.code().slice(0, 3)} ${me.code().slice(3)} `, 'otp']],
  },
  {
    name: 'a no-break space or a tab inside',
    attempts: (me) => [
      [`${me.code().slice(0, 3)}\u00a0${me.code().slice(3)}`, 'invalid'],
      [`${me.code().slice(0, 3)}\t${me.code().slice(3)}`, 'invalid'],
    ],
  },
  { name: 'empty', attempts: () => [['', 'invalid']] },
  {
    name: 'a 10 KB string starting with the right code is not read',
    attempts: (me) => [
      [me.code().padEnd(10_240, ' '), 'invalid'],
      [me.code(), 'otp'],
    ],
  },
  {
    name: 'a recovery code twice',
    attempts: (me) => [
      [me.recoveryCodes[0]!, 'recovery'],
      [me.recoveryCodes[0]!, 'invalid'],
    ],
  },
  {
    name: 'a recovery code in capitals with spaces, or without dashes, accepted once',
    attempts: (me) => [
      [` ${me.recoveryCodes[1]!.toUpperCase().replaceAll('-', ' ')} `, 'recovery'],
      [me.recoveryCodes[1]!, 'invalid'],
      [me.recoveryCodes[2]!.replaceAll('-', ''), 'recovery'],
    ],
  },
  {
    name: 'a recovery code with a full-width letter',
    attempts: (me) => [
      [me.recoveryCodes[3]!.replace(/[a-z]/, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)), 'invalid'],
    ],
  },
  { name: "another account's recovery code", attempts: (_me, other) => [[other.recoveryCodes[0]!, 'invalid']] },
  { name: "another account's current code", attempts: (_me, other) => [[other.code(), 'invalid']] },
];

for (const harness of [sqliteHarness(), postgresHarness()]) {
  describe(`second factors: ${harness.name}`, { skip: harness.skip }, () => {
    let url: string;
    let store: Store;
    let factors: SecondFactors;
    let clock = BASE;
    let accounts = 0;

    before(async () => {
      url = await harness.newUrl();
      store = await openStore(url, { keyring: new Keyring([generateKey()]), now: () => clock });
      factors = new SecondFactors(store, { issuer: 'SignOnce Test', now: () => clock });
    });
    after(async () => {
      await store?.close();
      await harness.cleanup();
    });
    beforeEach(() => {
      clock = BASE;
    });

    /** A new local account with TOTP turned on ten steps ago (so the steps around now are unused). */
    const enrol = async (): Promise<Enrolled> => {
      const { account } = await store.resolveIdentity('local', `user-${++accounts}`);
      const now = clock;
      clock -= 10 * STEP_MS;
      const { secret } = factors.beginTotp(account.id, `user-${accounts}`);
      const confirmed = await factors.confirmTotp(account.id, secret, codeAt(secret, clock));
      clock = now;
      assert.ok(confirmed.ok, 'enrolled');
      const code = (offset = 0) => codeAt(secret, clock + offset * STEP_MS);
      const near = new Set([-3, -2, -1, 0, 1, 2, 3].map(code));
      let wrong = 0;
      while (near.has(String(wrong).padStart(6, '0'))) wrong++;
      return {
        accountId: account.id,
        secret,
        recoveryCodes: confirmed.recoveryCodes,
        code,
        wrongCode: () => String(wrong).padStart(6, '0'),
      };
    };

    test('RFC 6238 Appendix B (SHA1 rows, truncated to the 6 digits configured) are accepted at their times', async () => {
      const { account } = await store.resolveIdentity('local', 'rfc6238');
      // The RFC's key: the ASCII of "12345678901234567890", in base32.
      const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
      const vectors: Array<[number, string]> = [
        [59, '94287082'],
        [1111111109, '07081804'],
        [1111111111, '14050471'],
        [1234567890, '89005924'],
        [2000000000, '69279037'],
        [20000000000, '65353130'],
      ];
      const [first, ...rest] = vectors;
      clock = first![0] * 1000;
      const confirmed = await factors.confirmTotp(account.id, secret, first![1].slice(2));
      assert.equal(confirmed.ok, true);
      for (const [seconds, code] of rest) {
        clock = seconds * 1000;
        assert.deepEqual(
          await factors.verify(account.id, code.slice(2), '192.0.2.1'),
          { ok: true, method: 'otp' },
          `T = ${seconds}`,
        );
      }
    });

    test('beginTotp: a new 160-bit secret and the key URI authenticator apps read; nothing stored', async () => {
      const { account } = await store.resolveIdentity('local', 'beginner');
      const { secret, uri } = factors.beginTotp(account.id, 'ann@example.com');
      assert.match(secret, /^[A-Z2-7]{32}$/);
      assert.equal(Secret.fromBase32(secret).bytes.length, 20);
      assert.notEqual(factors.beginTotp(account.id, 'ann@example.com').secret, secret);
      const parsed = new URL(uri);
      assert.equal(parsed.protocol, 'otpauth:');
      assert.equal(parsed.host, 'totp');
      assert.equal(decodeURIComponent(parsed.pathname), '/SignOnce Test:ann@example.com');
      assert.deepEqual(Object.fromEntries(parsed.searchParams), {
        issuer: 'SignOnce Test',
        secret,
        algorithm: 'SHA1',
        digits: '6',
        period: '30',
      });
      assert.deepEqual(await factors.status(account.id), { totp: false, recoveryCodesLeft: 0 });
    });

    test('confirmTotp: a code of the secret turns TOTP on with 10 recovery codes; anything else changes nothing', async () => {
      const { account } = await store.resolveIdentity('local', 'confirmer');
      const { secret } = factors.beginTotp(account.id, 'confirmer');
      const right = codeAt(secret, clock);
      const wrong = String((Number(right) + 500_000) % 1_000_000).padStart(6, '0');
      for (const [secretTyped, code, problem] of [
        [secret, wrong, /not right/],
        [secret, codeAt(secret, clock + 2 * STEP_MS), /not right/],
        [secret, '', /6-digit code/],
        [secret, fullWidth(right), /6-digit code/],
        [secret.toLowerCase(), right, /start again/],
        [`${secret}AAAA`, right, /start again/],
      ] as const) {
        const refused = await factors.confirmTotp(account.id, secretTyped, code);
        assert.ok(!refused.ok && problem.test(refused.problem), `${secretTyped} ${code}`);
      }
      assert.deepEqual(await factors.status(account.id), { totp: false, recoveryCodesLeft: 0 });

      const confirmed = await factors.confirmTotp(account.id, secret, right);
      assert.ok(confirmed.ok);
      assert.equal(confirmed.recoveryCodes.length, 10);
      assert.equal(new Set(confirmed.recoveryCodes).size, 10);
      for (const code of confirmed.recoveryCodes) assert.match(code, /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{2}$/);
      assert.deepEqual(await factors.status(account.id), { totp: true, recoveryCodesLeft: 10 });
      assert.deepEqual(
        await factors.verify(account.id, right, '192.0.2.2'),
        { ok: false, reason: 'invalid' },
        'the code that confirmed is used',
      );
    });

    describe('verify: hostile and edge inputs', () => {
      for (const [i, row] of ROWS.entries())
        test(row.name, async () => {
          const [me, other] = [await enrol(), await enrol()];
          for (const [input, expected] of row.attempts(me, other)) {
            const answer = await factors.verify(me.accountId, input, `198.51.100.${i}`);
            const label = `${JSON.stringify(input.slice(0, 40))} (${input.length} characters)`;
            assert.deepEqual(
              answer,
              expected === 'invalid' ? { ok: false, reason: 'invalid' } : { ok: true, method: expected },
              label,
            );
          }
        });

      test('one code sent five times at once is accepted once', async () => {
        const me = await enrol();
        const answers = await Promise.all(
          Array.from({ length: 5 }, () => factors.verify(me.accountId, me.code(), '203.0.113.1')),
        );
        assert.equal(answers.filter((a) => a.ok).length, 1);
      });
    });

    test('guesses are throttled (even the right code waits), up to 15 minutes, and a success forgets them', async () => {
      const me = await enrol();
      const guess = (code: string) => factors.verify(me.accountId, code, '203.0.113.2');
      for (let i = 0; i < 5; i++) assert.deepEqual(await guess(me.wrongCode()), { ok: false, reason: 'invalid' });
      assert.deepEqual(await guess(me.code()), { ok: false, reason: 'throttled', retryAfterMs: 1000 });
      clock += 1000;
      assert.deepEqual(await guess(me.code()), { ok: true, method: 'otp' });
      for (let i = 0; i < 5; i++)
        assert.deepEqual(await guess(me.wrongCode()), { ok: false, reason: 'invalid' }, 'failures start again from 0');
      assert.equal((await guess(me.wrongCode())).ok, false);
      const throttled = await guess(me.wrongCode());
      assert.ok(!throttled.ok && throttled.reason === 'throttled' && throttled.retryAfterMs > 0);
      // A code is far easier to guess than a password: the account's wait goes past a minute.
      for (let i = 0; i < 20; i++) {
        const wait = await guess(me.wrongCode());
        if (!wait.ok && wait.reason === 'throttled') clock += wait.retryAfterMs;
      }
      const longest = await guess(me.wrongCode());
      assert.deepEqual(longest, { ok: false, reason: 'throttled', retryAfterMs: 15 * 60_000 });
      const other = await enrol();
      assert.deepEqual(
        await factors.verify(other.accountId, other.code(), '203.0.113.3'),
        { ok: true, method: 'otp' },
        'another account is not held up',
      );
    });

    test('new recovery codes replace the old; removing turns everything off', async () => {
      const me = await enrol();
      assert.deepEqual(await factors.verify(me.accountId, me.recoveryCodes[0]!, '203.0.113.4'), {
        ok: true,
        method: 'recovery',
      });
      assert.deepEqual(await factors.status(me.accountId), { totp: true, recoveryCodesLeft: 9 });
      const fresh = await factors.regenerateRecoveryCodes(me.accountId);
      assert.equal(fresh.length, 10);
      assert.deepEqual(await factors.status(me.accountId), { totp: true, recoveryCodesLeft: 10 });
      assert.deepEqual(await factors.verify(me.accountId, me.recoveryCodes[1]!, '203.0.113.4'), {
        ok: false,
        reason: 'invalid',
      });
      assert.deepEqual(await factors.verify(me.accountId, fresh[0]!, '203.0.113.4'), { ok: true, method: 'recovery' });

      await factors.remove(me.accountId);
      assert.deepEqual(await factors.status(me.accountId), { totp: false, recoveryCodesLeft: 0 });
      assert.deepEqual(await factors.verify(me.accountId, me.code(), '203.0.113.4'), { ok: false, reason: 'invalid' });
      assert.deepEqual(await factors.verify(me.accountId, fresh[1]!, '203.0.113.4'), { ok: false, reason: 'invalid' });
      assert.deepEqual(await factors.regenerateRecoveryCodes(me.accountId), [], 'no recovery codes without TOTP');
      assert.deepEqual(await factors.status(me.accountId), { totp: false, recoveryCodesLeft: 0 });
    });

    test('at rest: neither the secret nor a recovery code is in the database, in any form', async () => {
      const me = await enrol();
      const raw = await harness.rawContents(url);
      assert.ok(raw.includes(me.accountId), 'the raw reader sees what the store wrote');
      const needles = [me.secret, me.secret.toLowerCase()];
      for (const code of me.recoveryCodes) needles.push(code, code.replaceAll('-', ''), code.toUpperCase());
      for (const needle of needles) assert.ok(!raw.includes(needle), `found ${needle} in clear`);
    });
  });
}
