// Passkeys against real stores (a SQLite file, PostgreSQL) and @simplewebauthn/server, with a
// software authenticator (test/support/webauthn.ts) making the answers a browser would post: the
// options of each ceremony, registration, and a table of assertions (another origin, another
// challenge, another account's passkey, a user handle that is not the passkey's, a counter that
// went back: a clone). Table tests of the pure rules (names, counters).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Passkeys, counterAccepted, passkeyNameProblem } from '../../src/accounts/passkeys.ts';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { postgresHarness, sqliteHarness } from '../store/support/harnesses.ts';
import { SoftwareAuthenticator } from '../support/webauthn.ts';

const RP = { rpId: 'auth.example.test', rpName: 'SignOnce', origin: 'https://auth.example.test' };

test('counterAccepted: greater, or 0 and 0 (WebAuthn L3 section 6.1.1)', () => {
  const rows: Array<[stored: number, reported: number, accepted: boolean]> = [
    [0, 0, true],
    [0, 1, true],
    [5, 6, true],
    [5, 500, true],
    [5, 5, false],
    [5, 4, false],
    [5, 0, false],
  ];
  for (const [stored, reported, accepted] of rows)
    assert.equal(counterAccepted(stored, reported), accepted, `${stored} then ${reported}`);
});

test('passkeyNameProblem: 1 to 64 characters, no control characters', () => {
  const rows: Array<[string, boolean]> = [
    ['Phone', true],
    ['Ordinateur portable — bureau', true],
    ['x'.repeat(64), true],
    ['', false],
    ['x'.repeat(65), false],
    ['line\nbreak', false],
    ['nul\u0000', false],
  ];
  for (const [name, ok] of rows) assert.equal(passkeyNameProblem(name) === undefined, ok, JSON.stringify(name));
});

for (const harness of [sqliteHarness(), postgresHarness()]) {
  describe(`passkeys: ${harness.name}`, { skip: harness.skip }, () => {
    let store: Store;
    let passkeys: Passkeys;
    before(async () => {
      store = await openStore(await harness.newUrl(), { keyring: new Keyring([generateKey()]) });
      passkeys = new Passkeys(store, RP);
    });
    after(async () => {
      await store?.close();
      await harness.cleanup();
    });

    /** A new account with a registered passkey on `authenticator`. */
    async function enrolled(username: string, authenticator = new SoftwareAuthenticator(RP)) {
      const { account } = await store.resolveIdentity('local', username);
      const options = await passkeys.registrationOptions(account.id, username);
      const registered = await passkeys.verifyRegistration(
        account.id,
        '  Phone  ',
        authenticator.register(options),
        options.challenge,
      );
      assert.ok(registered.ok, JSON.stringify(registered));
      return { accountId: account.id, authenticator, passkey: registered.passkey, userId: options.user.id };
    }

    test('registration options: discoverable, user verification preferred, an opaque user handle, the account passkeys excluded', async () => {
      const { accountId, authenticator, userId } = await enrolled('options-user');
      const options = await passkeys.registrationOptions(accountId, 'options-user');
      assert.equal(options.rp.id, RP.rpId);
      assert.equal(options.rp.name, RP.rpName);
      assert.deepEqual(options.authenticatorSelection, {
        residentKey: 'required',
        requireResidentKey: true,
        userVerification: 'preferred',
      });
      assert.equal(options.attestation, 'none');
      assert.equal(options.user.name, 'options-user');
      assert.equal(options.user.id, userId, 'the same handle every time');
      assert.equal(Buffer.from(options.user.id, 'base64url').length, 32);
      assert.ok(!Buffer.from(options.user.id, 'base64url').toString().includes(accountId), 'not the account id');
      assert.deepEqual(
        options.excludeCredentials?.map((c) => c.id),
        [authenticator.credentialId],
      );
      const other = await store.resolveIdentity('local', 'options-other');
      assert.notEqual((await passkeys.registrationOptions(other.account.id, 'options-other')).user.id, userId);
      assert.notEqual(options.challenge, (await passkeys.registrationOptions(accountId, 'options-user')).challenge);
    });

    test('registration keeps the passkey (trimmed name, counter, transports, backup state); refusals say why', async () => {
      const { accountId, passkey, authenticator } = await enrolled('register-user');
      assert.deepEqual(
        { ...passkey, publicKey: typeof passkey.publicKey },
        {
          credentialId: authenticator.credentialId,
          accountId,
          publicKey: 'string',
          counter: 0,
          transports: ['internal'],
          deviceType: 'multiDevice',
          backedUp: true,
          name: 'Phone',
          createdAt: passkey.createdAt,
        },
      );
      assert.deepEqual(await passkeys.list(accountId), [passkey]);

      const options = await passkeys.registrationOptions(accountId, 'register-user');
      const fresh = new SoftwareAuthenticator(RP);
      const refusals: Array<[string, Promise<unknown>, RegExp]> = [
        [
          'another challenge',
          passkeys.verifyRegistration(accountId, 'Key', fresh.register(options), 'another-challenge'),
          /challenge/,
        ],
        [
          'another origin',
          passkeys.verifyRegistration(
            accountId,
            'Key',
            fresh.register(options, { origin: 'https://evil.example' }),
            options.challenge,
          ),
          /origin/,
        ],
        [
          'another relying party',
          passkeys.verifyRegistration(
            accountId,
            'Key',
            new SoftwareAuthenticator({ ...RP, rpId: 'evil.example' }).register(options),
            options.challenge,
          ),
          /RP ID/i,
        ],
        ['no name', passkeys.verifyRegistration(accountId, '   ', fresh.register(options), options.challenge), /name/],
        [
          'registered already',
          passkeys.verifyRegistration(accountId, 'Again', authenticator.register(options), options.challenge),
          /registered already/,
        ],
      ];
      for (const [name, outcome, problem] of refusals) {
        const result = (await outcome) as { ok: boolean; problem?: string };
        assert.equal(result.ok, false, name);
        assert.match(result.problem!, problem, name);
      }
      assert.equal((await passkeys.list(accountId)).length, 1, 'nothing kept by a refusal');
    });

    test('authentication options: discoverable (none named) to sign in; the account passkeys as a second factor', async () => {
      const { accountId, authenticator } = await enrolled('auth-options-user');
      const discoverable = await passkeys.authenticationOptions();
      assert.equal(discoverable.rpId, RP.rpId);
      assert.equal(discoverable.userVerification, 'required');
      assert.equal(discoverable.allowCredentials, undefined);
      const second = await passkeys.authenticationOptions(accountId);
      assert.deepEqual(
        second.allowCredentials?.map((c) => c.id),
        [authenticator.credentialId],
      );
    });

    interface AssertionRow {
      readonly name: string;
      /** Makes the answer, given the enrolled passkey and another account's. */
      readonly answer: (
        me: Awaited<ReturnType<typeof enrolled>>,
        other: Awaited<ReturnType<typeof enrolled>>,
        challenge: string,
      ) => ReturnType<SoftwareAuthenticator['authenticate']>;
      /** The account the caller expects (second factor): mine, the other's, or none (sign-in). */
      readonly expect?: 'mine' | 'other';
      /** The counter of a genuine use recorded before this answer is made. */
      readonly earlierUse?: number;
      readonly outcome: 'ok' | 'unknown' | 'other-account' | 'invalid' | 'cloned';
    }
    const ROWS: readonly AssertionRow[] = [
      { name: 'a sign-in', answer: (me, _o, challenge) => me.authenticator.authenticate({ challenge }), outcome: 'ok' },
      {
        name: 'a second factor of its account',
        answer: (me, _o, challenge) => me.authenticator.authenticate({ challenge }),
        expect: 'mine',
        outcome: 'ok',
      },
      {
        name: 'a second factor of another account',
        answer: (me, _o, challenge) => me.authenticator.authenticate({ challenge }),
        expect: 'other',
        outcome: 'other-account',
      },
      {
        name: "another origin's assertion",
        answer: (me, _o, challenge) => me.authenticator.authenticate({ challenge, origin: 'https://evil.example' }),
        outcome: 'invalid',
      },
      {
        name: 'an assertion for another sign-in (challenge)',
        answer: (me) => me.authenticator.authenticate({ challenge: 'c29tZS1vdGhlci1jaGFsbGVuZ2U' }),
        outcome: 'invalid',
      },
      {
        name: "a user handle that is not the passkey's account",
        answer: (me, other, challenge) => me.authenticator.authenticate({ challenge }, other.userId),
        outcome: 'other-account',
      },
      {
        name: 'an unregistered passkey',
        answer: (_me, _o, challenge) => {
          const stranger = new SoftwareAuthenticator(RP);
          return stranger.authenticate({ challenge });
        },
        outcome: 'unknown',
      },
      {
        name: 'a cloned passkey reporting a lower counter',
        earlierUse: 5,
        answer: (me, _o, challenge) => {
          me.authenticator.counter = 3; // a copy of the key, used less
          return me.authenticator.authenticate({ challenge });
        },
        outcome: 'cloned',
      },
    ];

    for (const row of ROWS)
      test(`assertion: ${row.name} -> ${row.outcome}`, async () => {
        const me = await enrolled(`me-${row.name}`);
        const other = await enrolled(`other-${row.name}`);
        const options = await passkeys.authenticationOptions();
        if (row.earlierUse !== undefined) {
          me.authenticator.counter = row.earlierUse;
          assert.ok(
            (await passkeys.verifyAuthentication(me.authenticator.authenticate(options), options.challenge)).ok,
          );
        }
        const answer = row.answer(me, other, options.challenge);
        const expected = row.expect === 'mine' ? me.accountId : row.expect === 'other' ? other.accountId : undefined;
        const result = await passkeys.verifyAuthentication(answer, options.challenge, expected);
        if (row.outcome === 'ok') {
          assert.deepEqual(result, {
            ok: true,
            accountId: me.accountId,
            credentialId: me.authenticator.credentialId,
            userVerified: true,
          });
          const [used] = await passkeys.list(me.accountId);
          assert.equal(used!.counter, 1);
          assert.ok(used!.lastUsedAt);
        } else {
          assert.equal(result.ok, false);
          assert.equal(!result.ok && result.reason, row.outcome, !result.ok ? result.problem : '');
        }
      });

    test('the same assertion twice: the second is a replay; an authenticator that does not count signs in again and again', async () => {
      const { authenticator } = await enrolled('replay-user');
      const options = await passkeys.authenticationOptions();
      const answer = authenticator.authenticate(options);
      assert.ok((await passkeys.verifyAuthentication(answer, options.challenge)).ok);
      const again = await passkeys.verifyAuthentication(answer, options.challenge);
      assert.equal(!again.ok && again.reason, 'cloned');
      assert.match(!again.ok ? again.problem : '', /counter did not go up \(it was 1, it says 1\)/);

      const uncounted = await enrolled('uncounted-user', new SoftwareAuthenticator(RP, 0));
      for (let i = 0; i < 3; i += 1) {
        const o = await passkeys.authenticationOptions();
        assert.ok((await passkeys.verifyAuthentication(uncounted.authenticator.authenticate(o), o.challenge)).ok);
      }
    });

    test('without user verification: no sign-in by the passkey alone, but a second factor after the password', async () => {
      const { accountId, authenticator } = await enrolled('no-uv-user');
      authenticator.userVerified = false;
      const options = await passkeys.authenticationOptions();
      assert.equal(options.userVerification, 'required');
      const alone = await passkeys.verifyAuthentication(authenticator.authenticate(options), options.challenge);
      assert.equal(!alone.ok && alone.reason, 'invalid');
      assert.match(!alone.ok ? alone.problem : '', /user could not be verified/);
      const second = await passkeys.authenticationOptions(accountId);
      assert.equal(second.userVerification, 'preferred');
      const result = await passkeys.verifyAuthentication(
        authenticator.authenticate(second),
        second.challenge,
        accountId,
      );
      assert.equal(result.ok && result.userVerified, false);
    });

    test('rename and remove: the account own passkeys only; names checked', async () => {
      const { accountId, authenticator } = await enrolled('rename-user');
      const other = await enrolled('rename-other');
      assert.equal(await passkeys.rename(accountId, authenticator.credentialId, ' Laptop '), undefined);
      assert.equal((await passkeys.list(accountId))[0]!.name, 'Laptop');
      assert.match((await passkeys.rename(accountId, authenticator.credentialId, 'x'.repeat(65)))!, /at most 64/);
      assert.equal(await passkeys.rename(other.accountId, authenticator.credentialId, 'Mine'), 'this passkey is gone');
      assert.equal(await passkeys.remove(other.accountId, authenticator.credentialId), false);
      assert.equal(await passkeys.remove(accountId, authenticator.credentialId), true);
      assert.deepEqual(await passkeys.list(accountId), []);
      const options = await passkeys.authenticationOptions();
      const result = await passkeys.verifyAuthentication(authenticator.authenticate(options), options.challenge);
      assert.equal(!result.ok && result.reason, 'unknown', 'a removed passkey signs in no more');
    });
  });
}
