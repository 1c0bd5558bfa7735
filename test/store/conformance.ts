// The one suite every Store implementation passes unchanged (as oidc-provider tests its adapters).
// Each implementation's test file supplies a harness: fresh store URLs and raw access to what the
// store wrote, so tests can look beneath the interface for secrets in clear.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Keyring, SealedValueError, generateKey } from '../../src/crypto/keyring.ts';
import {
  IdentityConflictError,
  LastIdentityError,
  AUDIT_TEXT_MAX,
  StoreUnavailableError,
  UsernameTakenError,
  openStore,
  type Store,
  type StoreChange,
  type StoredTokens,
  type NewWebAuthnCredential,
} from '../../src/store/index.ts';
import { changeChannel } from '../../src/store/postgres.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/** A passkey as registered, with made-up bytes: the store keeps what it is given. */
function newPasskey(accountId: string, credentialId: string): NewWebAuthnCredential {
  return {
    credentialId,
    accountId,
    publicKey: `public-key-of-${credentialId}`,
    counter: 0,
    transports: ['internal', 'hybrid'],
    deviceType: 'multiDevice',
    backedUp: true,
    name: 'Phone',
  };
}

export interface StoreHarness {
  readonly name: string;
  /** Why this implementation cannot be tested here; the suite is then skipped with that reason. */
  readonly skip?: string | undefined;
  /** The URL of a new, empty store. */
  newUrl(): Promise<string>;
  /** Every byte the store at `url` has written, as text, to search for secrets. */
  rawContents(url: string): Promise<string>;
  /** Whether several instances (processes) share the store: locks and changes reach across them. */
  readonly clustered: boolean;
  /** The names of the store's tables. */
  tables(url: string): Promise<string[]>;
  /** Runs a statement directly on the database, below the Store interface; the rows it returns. */
  query(url: string, statement: string, params?: Array<string | number>): Promise<Array<Record<string, unknown>>>;
  cleanup(): Promise<void>;
}

const execFileAsync = promisify(execFile);
const child = (name: string) => fileURLToPath(new URL(`./support/${name}`, import.meta.url));
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export function storeConformance(harness: StoreHarness): void {
  describe(`Store conformance: ${harness.name}`, { skip: harness.skip }, () => {
    const key = generateKey();
    const keyring = new Keyring([key]);
    let clock = Date.now();
    let url: string;
    let store: Store;

    before(async () => {
      url = await harness.newUrl();
      store = await openStore(url, { keyring, now: () => clock });
    });
    after(async () => {
      await store?.close();
      await harness.cleanup();
    });

    describe('accounts and identities', () => {
      test('resolveIdentity creates an account once, then finds it', async () => {
        const first = await store.resolveIdentity('google', 'g-123');
        assert.equal(first.created, true);
        const again = await store.resolveIdentity('google', 'g-123');
        assert.deepEqual(again, { account: first.account, created: false });
        assert.deepEqual(await store.getAccount(first.account.id), first.account);
        assert.equal(await store.getAccount('no-such-account'), undefined);
        assert.equal((await store.findIdentity('google', 'g-123'))?.accountId, first.account.id);
        assert.equal(await store.findIdentity('github', 'g-123'), undefined, 'subjects are per provider');
      });

      test('concurrent first sign-ins of one identity end in one account', async () => {
        const results = await Promise.all(Array.from({ length: 10 }, () => store.resolveIdentity('aad', 'race')));
        assert.equal(new Set(results.map((r) => r.account.id)).size, 1);
        assert.equal(results.filter((r) => r.created).length, 1);
      });

      test('linking: a second identity joins the account; one linked elsewhere is refused', async () => {
        const { account } = await store.resolveIdentity('google', 'link-owner');
        const { account: other } = await store.resolveIdentity('google', 'someone-else');
        await store.linkIdentity(account.id, 'github', 'octocat');
        await store.linkIdentity(account.id, 'github', 'octocat'); // idempotent
        assert.deepEqual((await store.listIdentities(account.id)).map((i) => `${i.provider}:${i.subject}`).sort(), [
          'github:octocat',
          'google:link-owner',
        ]);
        await assert.rejects(store.linkIdentity(other.id, 'github', 'octocat'), IdentityConflictError);
        assert.equal((await store.findIdentity('github', 'octocat'))?.accountId, account.id, 'never a silent merge');
      });

      test("a sign-in records the identity's profile (sealed) and e-mail key; identities are found by that key", async () => {
        const { account } = await store.resolveIdentity('google', 'profiled');
        assert.equal((await store.findIdentity('google', 'profiled'))?.profile, undefined);
        const profile = { name: 'Pat', claims: [{ typ: 'email', val: 'pat@example.com' }] };
        await store.updateIdentity('google', 'profiled', { profile, emailKey: 'key-pat' });
        await store.linkIdentity(account.id, 'github', 'pat-gh');
        await store.updateIdentity('github', 'pat-gh', { profile: { name: 'pat' }, emailKey: 'key-pat' });
        assert.deepEqual((await store.findIdentity('google', 'profiled'))?.profile, profile);
        assert.deepEqual((await store.findIdentitiesByEmailKey('key-pat')).map((i) => i.provider).sort(), [
          'github',
          'google',
        ]);
        await store.updateIdentity('github', 'pat-gh', { profile: { name: 'pat' }, emailKey: null });
        assert.deepEqual(
          (await store.findIdentitiesByEmailKey('key-pat')).map((i) => i.provider),
          ['google'],
        );
        assert.deepEqual(await store.findIdentitiesByEmailKey('key-nobody'), []);
        const raw = await harness.rawContents(url);
        assert.ok(!raw.includes('pat@example.com'), 'the profile is sealed');
      });

      test("unlinking: an identity goes with the account's tokens of its provider; the last one cannot go", async () => {
        const { account } = await store.resolveIdentity('google', 'unlinker');
        await store.linkIdentity(account.id, 'github', 'unlinker-gh');
        const github = { accountId: account.id, provider: 'github', resource: '' };
        const google = { ...github, provider: 'google' };
        await store.putTokens(github, { accessToken: 'gh' });
        await store.putTokens(google, { accessToken: 'g' });
        assert.equal(await store.unlinkIdentity(account.id, 'github', 'someone-else'), false);
        const { account: other } = await store.resolveIdentity('google', 'not-theirs');
        assert.equal(
          await store.unlinkIdentity(other.id, 'github', 'unlinker-gh'),
          false,
          "only the account's own identities",
        );
        assert.equal(await store.unlinkIdentity(account.id, 'github', 'unlinker-gh'), true);
        assert.equal(await store.findIdentity('github', 'unlinker-gh'), undefined);
        assert.equal(await store.getTokens(github), undefined);
        assert.ok(await store.getTokens(google), "the other provider's tokens stay");
        await assert.rejects(store.unlinkIdentity(account.id, 'google', 'unlinker'), LastIdentityError);
        assert.equal((await store.findIdentity('google', 'unlinker'))?.accountId, account.id);

        // Tokens are kept per provider, not per identity: whose they are is not known, so they go.
        await store.linkIdentity(account.id, 'github', 'first-gh');
        await store.linkIdentity(account.id, 'github', 'second-gh');
        await store.putTokens(github, { accessToken: 'whose' });
        await store.putTokens({ ...github, resource: 'https://api.example' }, { accessToken: 'whose-api' });
        assert.equal(await store.unlinkIdentity(account.id, 'github', 'first-gh'), true);
        assert.deepEqual(
          (await store.listTokens(account.id)).map((t) => t.provider),
          ['google'],
          'every github set, resources too',
        );
      });

      test('a disabled account: flagged, its sessions not live (renewal neither) until enabled; unknown accounts are not', async () => {
        const { account } = await store.resolveIdentity('google', 'disabled');
        const { session } = await store.createSession({ accountId: account.id, lifetimeMs: 1000 });
        clock += 1500;
        const live = await store.createSession({ accountId: account.id, lifetimeMs: HOUR });
        assert.equal(await store.setAccountDisabled(account.id, clock), true);
        assert.deepEqual(await store.getAccount(account.id), { ...account, disabledAt: clock });
        assert.equal(await store.getSession(live.secret), undefined, 'not live');
        assert.equal(await store.getSessionByRef(live.session.ref), undefined);
        assert.equal(await store.getSessionByRef(session.ref, 600), undefined, 'nor within the refresh grace');
        assert.equal(await store.renewSession(session.ref, HOUR, 600), undefined, 'nor renewed');
        const created = await store.createSession({ accountId: account.id, lifetimeMs: HOUR });
        assert.equal(
          await store.getSession(created.secret),
          undefined,
          'a session made while disabled is not live either',
        );
        assert.equal(
          (await store.resolveIdentity('google', 'disabled')).account.disabledAt,
          clock,
          'a sign-in sees it',
        );
        assert.equal(await store.setAccountDisabled(account.id, null), true);
        assert.deepEqual(await store.getAccount(account.id), account);
        assert.ok(await store.getSession(live.secret), 'enabled: the store revokes nothing by itself');
        assert.ok(await store.renewSession(session.ref, HOUR, 600));
        assert.equal(await store.setAccountDisabled('no-such-account', clock), false);
      });

      test('listAccountSessions: every session of the account, expired ones too, oldest first, with its device and last use', async () => {
        const { account } = await store.resolveIdentity('google', 'listed');
        const { account: other } = await store.resolveIdentity('google', 'not-listed');
        const first = await store.createSession({
          accountId: account.id,
          lifetimeMs: 1000,
          data: { user: { provider: 'google', subject: 'listed' } },
        });
        clock += 1500;
        const second = await store.createSession({
          accountId: account.id,
          lifetimeMs: HOUR,
          device: { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0', address: '2001:db8::7' },
        });
        await store.createSession({ accountId: other.id, lifetimeMs: HOUR });
        await store.touchSession(second.session.ref, clock + 5000);
        assert.deepEqual(await store.listAccountSessions(account.id), [
          first.session,
          {
            ...second.session,
            userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0',
            address: '2001:db8::7',
            lastSeenAt: clock + 5000,
          },
        ]);
        await store.revokeSessionByRef(first.session.ref);
        assert.deepEqual(
          (await store.listAccountSessions(account.id)).map((s) => s.ref),
          [second.session.ref],
        );
        assert.deepEqual(await store.listAccountSessions('no-such-account'), []);
      });

      test('deleting an account leaves nothing of it in any table, and ends its sessions', async () => {
        const { account } = await store.resolveIdentity('google', 'leaver');
        await store.linkIdentity(account.id, 'github', 'leaver-gh');
        await store.updateIdentity('github', 'leaver-gh', { profile: { name: 'leaver' }, emailKey: 'key-leaver' });
        await store.putTokens({ accountId: account.id, provider: 'google', resource: '' }, { accessToken: 'a' });
        await store.putTokens(
          { accountId: account.id, provider: 'google', resource: 'https://api.example' },
          { accessToken: 'b' },
        );
        await store.addGroupMembers('leavers', [account.id]);
        await store.putProviderGroups(account.id, 'google', { groups: ['g'], roles: [] });
        await store.putTotpSecret(account.id, 'LEAVERSECRET', 1);
        await store.replaceRecoveryCodes(account.id, ['leaver-code-hash']);
        await store.addWebAuthnCredential(newPasskey(account.id, 'leaver-credential'));
        const { secret } = await store.createSession({ accountId: account.id, lifetimeMs: HOUR });
        const { account: bystander } = await store.resolveIdentity('google', 'bystander');
        assert.equal(await store.deleteAccount(account.id), true);
        assert.equal(await store.getSession(secret), undefined);
        for (const table of await harness.tables(url)) {
          const rows = await harness.query(url, `SELECT * FROM ${table}`);
          const left = rows.filter((row) => Object.values(row).some((value) => String(value).includes(account.id)));
          assert.deepEqual(left, [], `${table} still names the account`);
        }
        assert.ok(await store.getAccount(bystander.id), 'other accounts stay');
        assert.equal(await store.deleteAccount(account.id), false);
      });
    });

    describe('local accounts', () => {
      test('a password account is an account, an identity and a credential; a username once per provider', async () => {
        const created = await store.createPasswordAccount('local', 'uma', 'hash-1');
        assert.deepEqual(await store.getPasswordCredential('local', 'uma'), created);
        assert.equal((await store.findIdentity('local', 'uma'))?.accountId, created.accountId);
        await assert.rejects(store.createPasswordAccount('local', 'uma', 'hash-2'), UsernameTakenError);
        const racing = await Promise.allSettled(
          Array.from({ length: 5 }, () => store.createPasswordAccount('local', 'vic', 'h')),
        );
        assert.equal(racing.filter((r) => r.status === 'fulfilled').length, 1, 'of concurrent registrations one wins');
        assert.ok(racing.every((r) => r.status === 'fulfilled' || r.reason instanceof UsernameTakenError));
        assert.ok(await store.createPasswordAccount('other-local', 'uma', 'h'), 'usernames are per provider');
        assert.equal(await store.getPasswordCredential('local', 'nobody'), undefined);

        assert.equal(await store.updatePasswordCredential('local', 'uma', { passwordHash: 'hash-3' }), true);
        assert.deepEqual(await store.getPasswordCredential('local', 'uma'), { ...created, passwordHash: 'hash-3' });
        assert.equal(await store.updatePasswordCredential('local', 'nobody', { passwordHash: 'x' }), false);
        assert.equal(await store.deleteAccount(created.accountId), true);
        assert.equal(
          await store.getPasswordCredential('local', 'uma'),
          undefined,
          'deleting the account deletes the credential',
        );
      });

      test('sign-in failures are counted atomically per key and cleared', async () => {
        await Promise.all(Array.from({ length: 10 }, () => store.recordSignInFailure('key-a')));
        assert.deepEqual(await store.getSignInFailures('key-a'), { failures: 10, lastFailureAt: clock });
        assert.equal(await store.getSignInFailures('key-b'), undefined);
        await store.clearSignInFailures('key-a');
        assert.equal(await store.getSignInFailures('key-a'), undefined);
        assert.equal((await store.recordSignInFailure('key-a')).failures, 1);
      });
    });

    describe('second factors', () => {
      test('a TOTP secret is kept per account, replaced, and each time step is used once, later steps only', async () => {
        const { account } = await store.resolveIdentity('local', 'totp-user');
        const { account: other } = await store.resolveIdentity('local', 'totp-other');
        assert.equal(await store.getTotpSecret(account.id), undefined);
        assert.equal(await store.useTotpStep(account.id, 100), false, 'no TOTP, no step');
        await store.putTotpSecret(account.id, 'FIRSTSECRET', 100);
        assert.equal(await store.getTotpSecret(account.id), 'FIRSTSECRET');
        assert.equal(await store.getTotpSecret(other.id), undefined);
        assert.equal(await store.useTotpStep(account.id, 100), false, 'the step that proved the secret is used');
        const racing = await Promise.all(Array.from({ length: 5 }, () => store.useTotpStep(account.id, 101)));
        assert.equal(racing.filter(Boolean).length, 1, 'of concurrent uses of one step one wins');
        assert.equal(await store.useTotpStep(account.id, 103), true);
        assert.equal(await store.useTotpStep(account.id, 102), false, 'an earlier step after a later one');
        await store.putTotpSecret(account.id, 'SECONDSECRET', 50);
        assert.equal(await store.getTotpSecret(account.id), 'SECONDSECRET');
        assert.equal(await store.useTotpStep(account.id, 51), true, 'a new secret starts from its own step');
      });

      test('recovery codes: replaced as a set, each used once by its own account, counted, deleted with the factors', async () => {
        const { account } = await store.resolveIdentity('local', 'recovery-user');
        const { account: other } = await store.resolveIdentity('local', 'recovery-other');
        await store.putTotpSecret(account.id, 'RECOVERYSECRET', 1);
        assert.equal(await store.countRecoveryCodes(account.id), 0);
        await store.replaceRecoveryCodes(account.id, ['h1', 'h2', 'h3']);
        await store.replaceRecoveryCodes(other.id, ['h4']);
        assert.equal(await store.countRecoveryCodes(account.id), 3);
        const racing = await Promise.all(Array.from({ length: 5 }, () => store.useRecoveryCode(account.id, 'h1')));
        assert.equal(racing.filter(Boolean).length, 1, 'of concurrent uses of one code one wins');
        assert.equal(await store.useRecoveryCode(account.id, 'h1'), false);
        assert.equal(await store.useRecoveryCode(account.id, 'h4'), false, "another account's code");
        assert.equal(await store.useRecoveryCode(account.id, 'unknown'), false);
        assert.equal(await store.countRecoveryCodes(account.id), 2);
        await store.replaceRecoveryCodes(account.id, ['h5', 'h6']);
        assert.equal(await store.useRecoveryCode(account.id, 'h2'), false, 'replaced codes are gone');
        assert.equal(await store.countRecoveryCodes(account.id), 2);

        assert.equal(await store.deleteSecondFactors(account.id), true);
        assert.equal(await store.getTotpSecret(account.id), undefined);
        assert.equal(await store.countRecoveryCodes(account.id), 0);
        assert.equal(await store.useRecoveryCode(account.id, 'h5'), false);
        assert.equal(await store.deleteSecondFactors(account.id), false, 'nothing left to delete');
        assert.equal(await store.countRecoveryCodes(other.id), 1, "other accounts' codes stay");
      });
    });

    describe('passkeys', () => {
      test('added once per credential id, listed per account oldest first, found, renamed and deleted by their own account only', async () => {
        const { account } = await store.resolveIdentity('local', 'passkey-user');
        const { account: other } = await store.resolveIdentity('local', 'passkey-other');
        const first = await store.addWebAuthnCredential(newPasskey(account.id, 'cred-1'));
        assert.deepEqual(first, { ...newPasskey(account.id, 'cred-1'), createdAt: clock });
        clock += 1;
        await store.addWebAuthnCredential({ ...newPasskey(account.id, 'cred-2'), transports: [], backedUp: false });
        await store.addWebAuthnCredential(newPasskey(other.id, 'cred-3'));
        assert.equal(
          await store.addWebAuthnCredential(newPasskey(other.id, 'cred-1')),
          undefined,
          'a credential id is registered once, to one account',
        );
        const racing = await Promise.all(
          Array.from({ length: 5 }, () => store.addWebAuthnCredential(newPasskey(account.id, 'cred-race'))),
        );
        assert.equal(racing.filter(Boolean).length, 1, 'of concurrent registrations of one id one wins');
        assert.deepEqual(
          (await store.listWebAuthnCredentials(account.id)).map((c) => [c.credentialId, c.transports, c.backedUp]),
          [
            ['cred-1', ['internal', 'hybrid'], true],
            ['cred-2', [], false],
            ['cred-race', ['internal', 'hybrid'], true],
          ],
        );
        assert.deepEqual(await store.findWebAuthnCredential('cred-1'), first);
        assert.equal(await store.findWebAuthnCredential('no-such-credential'), undefined);

        assert.equal(await store.renameWebAuthnCredential(account.id, 'cred-1', 'Work laptop'), true);
        assert.equal(await store.renameWebAuthnCredential(other.id, 'cred-1', 'Stolen'), false, "another account's");
        assert.equal((await store.findWebAuthnCredential('cred-1'))?.name, 'Work laptop');
        await assert.rejects(store.renameWebAuthnCredential(account.id, 'cred-1', 'x'.repeat(65)), RangeError);
        await assert.rejects(
          store.addWebAuthnCredential({ ...newPasskey(account.id, 'cred-long'), name: 'x'.repeat(65) }),
          RangeError,
        );
        assert.equal(await store.deleteWebAuthnCredential(other.id, 'cred-1'), false, "another account's");
        assert.equal(await store.deleteWebAuthnCredential(account.id, 'cred-1'), true);
        assert.equal(await store.deleteWebAuthnCredential(account.id, 'cred-1'), false);
        assert.equal(await store.findWebAuthnCredential('cred-1'), undefined);
        assert.equal((await store.listWebAuthnCredentials(other.id)).length, 1, "other accounts' passkeys stay");
      });

      test('a use records counter, backed-up flag and time only for a greater counter, or 0 and 0 (WebAuthn L3 section 6.1.1)', async () => {
        const { account } = await store.resolveIdentity('local', 'counter-user');
        await store.addWebAuthnCredential({ ...newPasskey(account.id, 'counting'), counter: 5 });
        await store.addWebAuthnCredential({ ...newPasskey(account.id, 'not-counting'), counter: 0 });
        clock += 10;
        assert.equal(await store.useWebAuthnCredential('counting', 5, true), false, 'the same counter again');
        assert.equal(await store.useWebAuthnCredential('counting', 4, true), false, 'a lower counter: a clone');
        const racing = await Promise.all(
          Array.from({ length: 5 }, () => store.useWebAuthnCredential('counting', 6, false)),
        );
        assert.equal(racing.filter(Boolean).length, 1, 'of concurrent uses with one counter one wins');
        assert.deepEqual(await store.findWebAuthnCredential('counting'), {
          ...newPasskey(account.id, 'counting'),
          counter: 6,
          backedUp: false,
          createdAt: clock - 10,
          lastUsedAt: clock,
        });
        assert.equal(await store.useWebAuthnCredential('counting', 0, false), false, 'a counter that stopped counting');
        assert.equal(await store.useWebAuthnCredential('not-counting', 0, true), true);
        assert.equal(await store.useWebAuthnCredential('not-counting', 0, true), true, 'never counting: always 0');
        assert.equal(await store.useWebAuthnCredential('not-counting', 3, true), true, 'starting to count');
        assert.equal(await store.useWebAuthnCredential('not-counting', 0, true), false);
        assert.equal(await store.useWebAuthnCredential('no-such-credential', 9, true), false);
      });
    });

    describe('groups', () => {
      test("SignOnce's own groups: members added once, listed, counted, removed; unknown accounts skipped", async () => {
        const { account: ann } = await store.resolveIdentity('local', 'group-ann');
        clock += 1;
        const { account: bob } = await store.resolveIdentity('local', 'group-bob');
        assert.equal(await store.addGroupMembers('wiki-admins', [ann.id, ann.id, 'no-such-account']), 1);
        clock += 1;
        assert.equal(
          await store.addGroupMembers('wiki-admins', [bob.id, ann.id]),
          1,
          'a member already does not count',
        );
        await store.addGroupMembers('Ops Team', [bob.id]);
        assert.deepEqual(await store.listGroupMembers('wiki-admins'), [
          { accountId: ann.id, addedAt: clock - 1 },
          { accountId: bob.id, addedAt: clock },
        ]);
        assert.deepEqual(await store.listGroupMembers('WIKI-ADMINS'), [], 'names are exact');
        assert.deepEqual(
          (await store.listGroups()).filter((g) => ['wiki-admins', 'Ops Team'].includes(g.name)),
          [
            { name: 'Ops Team', members: 1 },
            { name: 'wiki-admins', members: 2 },
          ],
        );
        assert.deepEqual(await store.groupsOf(bob.id), ['Ops Team', 'wiki-admins']);
        assert.deepEqual(await store.groupsOf('no-such-account'), []);
        assert.equal(await store.removeGroupMembers('wiki-admins', [ann.id, 'no-such-account']), 1);
        assert.equal(await store.removeGroupMembers('wiki-admins', [ann.id]), 0);
        assert.deepEqual(await store.groupsOf(ann.id), []);
        await store.removeGroupMembers('Ops Team', [bob.id]);
        assert.ok(!(await store.listGroups()).some((g) => g.name === 'Ops Team'), 'a group without members is gone');
      });

      test('memberships read from providers: one row per provider, replaced, sealed, gone with the unlinked identity', async () => {
        const { account } = await store.resolveIdentity('aad', 'pg-1');
        await store.linkIdentity(account.id, 'github', 'pg-1-gh');
        await store.putProviderGroups(account.id, 'aad', { groups: ['g-1', 'g-2'], roles: ['reader'] });
        await store.putProviderGroups(account.id, 'github', { groups: ['acme'], roles: [] }, clock - 5000);
        await store.putProviderGroups(account.id, 'aad', { groups: ['g-3'], roles: [] }, clock + 10);
        assert.deepEqual(await store.listProviderGroups(account.id), [
          { accountId: account.id, provider: 'aad', groups: ['g-3'], roles: [], readAt: clock + 10 },
          { accountId: account.id, provider: 'github', groups: ['acme'], roles: [], readAt: clock - 5000 },
        ]);
        const raw = await harness.query(url, 'SELECT sealed_memberships FROM provider_groups WHERE account_id = ?', [
          account.id,
        ]);
        assert.equal(raw.length, 2);
        assert.ok(
          raw.every((row) => !String(row.sealed_memberships).includes('acme')),
          'sealed at rest',
        );
        assert.equal(await store.unlinkIdentity(account.id, 'github', 'pg-1-gh'), true);
        assert.deepEqual(
          (await store.listProviderGroups(account.id)).map((g) => g.provider),
          ['aad'],
        );
        assert.deepEqual(await store.listProviderGroups('no-such-account'), []);
      });

      test('a sealed row is bound to its account and provider: moved to another, it does not open', async () => {
        const { account } = await store.resolveIdentity('aad', 'pg-bound');
        const { account: other } = await store.resolveIdentity('aad', 'pg-other');
        await store.putProviderGroups(account.id, 'aad', { groups: ['secret-group'], roles: [] });
        const [row] = await harness.query(url, 'SELECT sealed_memberships FROM provider_groups WHERE account_id = ?', [
          account.id,
        ]);
        await harness.query(
          url,
          'INSERT INTO provider_groups (account_id, provider, sealed_memberships, read_at) VALUES (?, ?, ?, 0)',
          [other.id, 'aad', String(row!.sealed_memberships)],
        );
        await assert.rejects(store.listProviderGroups(other.id), SealedValueError);
      });

      test('every change of memberships tells account-changed for the account', async () => {
        const { account } = await store.resolveIdentity('local', 'group-watched');
        const heard: StoreChange[] = [];
        const stop = store.watch((change) => heard.push(change));
        const changed: StoreChange = { kind: 'account-changed', accountId: account.id };
        await store.addGroupMembers('watched', [account.id]);
        assert.deepEqual(heard, [changed]);
        await store.addGroupMembers('watched', [account.id]);
        assert.equal(heard.length, 1, 'adding a member again changes nothing');
        await store.removeGroupMembers('watched', [account.id]);
        await store.putProviderGroups(account.id, 'aad', { groups: [], roles: [] });
        assert.deepEqual(heard, [changed, changed, changed]);
        stop();
      });
    });

    describe('OpenID Provider artifacts', () => {
      test('found by id, uid or user code until they expire; consumed once; destroyed; revoked by grant; bearer values only as hashes', async () => {
        const accessToken = `AT-${Date.now()}-secret`;
        const sessionUid = `uid-${Date.now()}-secret`;
        await store.upsertOidcArtifact(
          'AccessToken',
          accessToken,
          { grantId: 'g1', accountId: 'acc-1', scope: 'openid' },
          clock + 1000,
        );
        await store.upsertOidcArtifact('RefreshToken', 'RT-1', { grantId: 'g1', accountId: 'acc-1' }, clock + HOUR);
        await store.upsertOidcArtifact('RefreshToken', 'RT-2', { grantId: 'g2', accountId: 'acc-1' }, clock + HOUR);
        await store.upsertOidcArtifact('Session', 'S-1', { uid: sessionUid, accountId: 'acc-1' }, undefined);
        await store.upsertOidcArtifact('DeviceCode', 'D-1', { userCode: 'ABCD-EFGH' }, clock + HOUR);
        assert.deepEqual(await store.findOidcArtifact('AccessToken', { id: accessToken }), {
          payload: { grantId: 'g1', accountId: 'acc-1', scope: 'openid' },
        });
        assert.equal(await store.findOidcArtifact('RefreshToken', { id: accessToken }), undefined, 'per model');
        assert.deepEqual((await store.findOidcArtifact('Session', { uid: sessionUid }))?.payload, {
          uid: sessionUid,
          accountId: 'acc-1',
        });
        assert.ok(await store.findOidcArtifact('DeviceCode', { userCode: 'ABCD-EFGH' }));
        const raw = await harness.rawContents(url);
        for (const secret of [accessToken, sessionUid, 'ABCD-EFGH'])
          assert.ok(!raw.includes(secret), `${secret} in clear`);

        await store.consumeOidcArtifact('RefreshToken', 'RT-1');
        const consumedAt = clock;
        clock += 10;
        await store.consumeOidcArtifact('RefreshToken', 'RT-1');
        assert.equal(
          (await store.findOidcArtifact('RefreshToken', { id: 'RT-1' }))?.consumedAt,
          consumedAt,
          'the first consumption counts',
        );
        clock += 1000;
        assert.equal(await store.findOidcArtifact('AccessToken', { id: accessToken }), undefined, 'expired');
        assert.equal((await store.purgeExpired()).oidcArtifacts, 1, 'and purged');
        await store.revokeOidcGrant('g1');
        assert.equal(await store.findOidcArtifact('RefreshToken', { id: 'RT-1' }), undefined, 'revoked with its grant');
        assert.ok(await store.findOidcArtifact('RefreshToken', { id: 'RT-2' }), 'another grant stays');
        await store.upsertOidcArtifact('Session', 'S-2', { uid: 'u2', accountId: 'acc-2' }, undefined);
        await store.upsertOidcArtifact('Grant', 'G-old', { jti: 'G-old', accountId: 'acc-1' }, clock + 10);
        await store.upsertOidcArtifact('Grant', 'G-1', { jti: 'G-1', accountId: 'acc-1' }, clock + HOUR);
        await store.upsertOidcArtifact('Grant', 'G-2', { jti: 'G-2', accountId: 'acc-2' }, clock + HOUR);
        clock += 10;
        assert.deepEqual(
          await store.listOidcArtifactsOfAccount('Grant', 'acc-1'),
          [{ jti: 'G-1', accountId: 'acc-1' }],
          "the account's live grants only: not expired, not another account's",
        );
        assert.equal((await store.listOidcArtifactsOfAccount('Grant', 'acc-1')).length, 1, 'listing takes none');
        assert.deepEqual(await store.takeOidcArtifactsOfAccount('Session', 'acc-1'), [
          { uid: sessionUid, accountId: 'acc-1' },
        ]);
        assert.equal(await store.findOidcArtifact('Session', { uid: sessionUid }), undefined, 'taken: gone');
        assert.ok(await store.findOidcArtifact('Session', { uid: 'u2' }), "another account's stays");
        await store.destroyOidcArtifact('RefreshToken', 'RT-2');
        assert.equal(await store.findOidcArtifact('RefreshToken', { id: 'RT-2' }), undefined);
      });

      test('deleteOidcArtifactsOfAccount: every artifact of the account, of every model; others stay', async () => {
        for (const model of ['Grant', 'AccessToken', 'RefreshToken', 'AuthorizationCode', 'Session']) {
          await store.upsertOidcArtifact(
            model,
            `${model}-mine`,
            { grantId: 'g-mine', accountId: 'acc-revoked' },
            clock + HOUR,
          );
        }
        await store.upsertOidcArtifact(
          'RefreshToken',
          'RT-theirs',
          { grantId: 'g-theirs', accountId: 'acc-other' },
          clock + HOUR,
        );
        assert.equal(await store.deleteOidcArtifactsOfAccount('acc-revoked'), 5);
        assert.equal(await store.findOidcArtifact('RefreshToken', { id: 'RefreshToken-mine' }), undefined);
        assert.equal(await store.findOidcArtifact('Grant', { id: 'Grant-mine' }), undefined);
        assert.ok(await store.findOidcArtifact('RefreshToken', { id: 'RT-theirs' }));
        assert.equal(await store.deleteOidcArtifactsOfAccount('acc-revoked'), 0);
      });
    });

    describe('provider tokens', () => {
      test('one set per (account, provider, resource); overwrite, list and delete', async () => {
        const { account } = await store.resolveIdentity('google', 'tokens');
        const ref = { accountId: account.id, provider: 'google', resource: '' };
        const graph = { ...ref, resource: 'https://graph.example/' };
        await store.putTokens(ref, { accessToken: 'a1', refreshToken: 'r1', idToken: 'i1', expiresAt: clock + HOUR });
        await store.putTokens(graph, { accessToken: 'g1', scope: 'Mail.Read', tokenType: 'Bearer' });
        await store.putTokens(ref, { accessToken: 'a2', refreshToken: 'r2', expiresAt: clock + 2 * HOUR });
        assert.deepEqual((await store.getTokens(ref))?.tokens, {
          accessToken: 'a2',
          refreshToken: 'r2',
          expiresAt: clock + 2 * HOUR,
        });
        assert.deepEqual((await store.getTokens(graph))?.tokens, {
          accessToken: 'g1',
          scope: 'Mail.Read',
          tokenType: 'Bearer',
        });
        assert.deepEqual(
          (await store.listTokens(account.id)).map((t) => [t.provider, t.resource]),
          [
            ['google', ''],
            ['google', 'https://graph.example/'],
          ],
        );
        assert.equal(await store.getTokens({ ...ref, provider: 'github' }), undefined);
        assert.equal(await store.deleteTokens(account.id, 'google', 'https://graph.example/'), 1);
        assert.equal(await store.getTokens(graph), undefined);
        assert.equal(await store.deleteTokens(account.id), 1);
        assert.deepEqual(await store.listTokens(account.id), []);
      });

      test('changeTokens: of 20 concurrent changes one refreshes, the others see its result; throw keeps, null deletes', async () => {
        const { account } = await store.resolveIdentity('google', 'change');
        const ref = { accountId: account.id, provider: 'google', resource: '' };
        await store.putTokens(ref, { accessToken: 'v0', refreshToken: 'r0' });
        let calls = 0;
        const refresh = async (current: StoredTokens | undefined) => {
          if (current?.tokens.accessToken !== 'v0') return undefined;
          calls++;
          await sleep(20);
          return { accessToken: 'v1', refreshToken: 'r1' };
        };
        const results = await Promise.all(Array.from({ length: 20 }, () => store.changeTokens(ref, refresh)));
        assert.equal(calls, 1);
        assert.deepEqual(new Set(results.map((r) => r?.tokens.accessToken)), new Set(['v1']));
        await assert.rejects(
          store.changeTokens(ref, async () => {
            throw new Error('provider down');
          }),
          /provider down/,
        );
        assert.equal(
          (await store.getTokens(ref))?.tokens.refreshToken,
          'r1',
          'a failed change leaves the tokens as they were',
        );
        assert.equal(await store.changeTokens(ref, async () => null), undefined);
        assert.equal(await store.getTokens(ref), undefined);
      });

      test('mergeTokens: each kind a sign-in brings replaces its own; nothing it lacks goes; a concurrent refresh is not lost', async () => {
        const { account } = await store.resolveIdentity('google', 'merge');
        const ref = { accountId: account.id, provider: 'google', resource: '' };
        assert.deepEqual(
          (await store.mergeTokens(ref, { idToken: 'i0' })).tokens,
          { idToken: 'i0' },
          'into nothing stored',
        );
        await store.putTokens(ref, {
          accessToken: 'a1',
          refreshToken: 'r1',
          idToken: 'i1',
          expiresAt: clock + HOUR,
          scope: 's',
          tokenType: 'Bearer',
        });
        assert.deepEqual((await store.mergeTokens(ref, { idToken: 'i2' })).tokens, {
          accessToken: 'a1',
          refreshToken: 'r1',
          idToken: 'i2',
          expiresAt: clock + HOUR,
          scope: 's',
          tokenType: 'Bearer',
        });
        assert.deepEqual(
          (await store.mergeTokens(ref, { idToken: 'i3', accessToken: 'a3' })).tokens,
          { accessToken: 'a3', refreshToken: 'r1', idToken: 'i3' },
          "a new access token goes without the old one's expiry, scope and type",
        );
        assert.deepEqual((await store.getTokens(ref))?.tokens, {
          accessToken: 'a3',
          refreshToken: 'r1',
          idToken: 'i3',
        });
        // A sign-in merged while a refresh holds the lock: it waits, and merges into the refreshed set.
        let release!: () => void;
        const providerAnswers = new Promise<void>((resolve) => {
          release = resolve;
        });
        let entered!: () => void;
        const refreshing = new Promise<void>((resolve) => {
          entered = resolve;
        });
        const refresh = store.changeTokens(ref, async (current) => {
          entered();
          await providerAnswers;
          return { ...current!.tokens, accessToken: 'a4', refreshToken: 'r4', expiresAt: clock + HOUR };
        });
        await refreshing;
        const signIn = store.mergeTokens(ref, { idToken: 'i5' });
        release();
        await refresh;
        assert.deepEqual((await signIn).tokens, {
          accessToken: 'a4',
          refreshToken: 'r4',
          idToken: 'i5',
          expiresAt: clock + HOUR,
        });
        const oauth1 = { ...ref, provider: 'twitter' };
        await store.putTokens(oauth1, { accessToken: 't1', accessTokenSecret: 'ts1' });
        assert.deepEqual((await store.mergeTokens(oauth1, { accessToken: 't2', accessTokenSecret: 'ts2' })).tokens, {
          accessToken: 't2',
          accessTokenSecret: 'ts2',
        });
      });

      test('changeTokens: many changes waiting on their providers at once do not hold up other queries', async () => {
        const { account } = await store.resolveIdentity('google', 'busy-refreshers');
        let release!: () => void;
        const providersAnswer = new Promise<void>((resolve) => {
          release = resolve;
        });
        const changes = Array.from({ length: 12 }, (_, i) =>
          store.changeTokens({ accountId: account.id, provider: 'google', resource: `resource-${i}` }, async () => {
            await providersAnswer;
            return { accessToken: `t${i}` };
          }),
        );
        // More than a pool's worth of changes now wait for their "provider": ordinary queries still run.
        assert.equal((await store.getAccount(account.id))?.id, account.id);
        release();
        assert.equal((await Promise.all(changes)).length, 12);
      });

      // SQLite excludes within one process only (documented): the test is for stores that say more.
      if (harness.clustered)
        test('changeTokens across instances (other processes): one change for all', async () => {
          const others = await Promise.all([1, 2].map(() => openStore(url, { keyring })));
          try {
            const { account } = await store.resolveIdentity('google', 'change-instances');
            const ref = { accountId: account.id, provider: 'google', resource: '' };
            await store.putTokens(ref, { accessToken: 'v0' });
            let calls = 0;
            const refresh = async (current: StoredTokens | undefined) => {
              if (current?.tokens.accessToken !== 'v0') return undefined;
              calls++;
              await sleep(100);
              return { accessToken: 'v1' };
            };
            const results = await Promise.all(
              [store, ...others].flatMap((s) => Array.from({ length: 5 }, () => s.changeTokens(ref, refresh))),
            );
            assert.equal(calls, 1);
            assert.ok(results.every((r) => r?.tokens.accessToken === 'v1'));
          } finally {
            await Promise.all(others.map((s) => s.close()));
          }
        });

      if (harness.clustered)
        test('changeTokens: a holder killed with SIGKILL releases the lock; the next change goes through', async () => {
          const { account } = await store.resolveIdentity('google', 'killed-holder');
          const ref = { accountId: account.id, provider: 'google', resource: '' };
          await store.putTokens(ref, { accessToken: 'v0', refreshToken: 'r0' });
          const holder = spawn(process.execPath, [child('lock-holder.ts'), url, key, account.id], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          await new Promise<void>((resolve) =>
            holder.stdout.setEncoding('utf8').on('data', (chunk: string) => {
              if (chunk.includes('locked')) resolve();
            }),
          );
          let changed = false;
          const waiting = store.changeTokens(ref, async () => {
            changed = true;
            return { accessToken: 'v1', refreshToken: 'r1' };
          });
          await sleep(300);
          assert.equal(changed, false, 'the live holder keeps the lock (no lease runs out)');
          holder.kill('SIGKILL');
          const after = await waiting;
          assert.equal(after?.tokens.refreshToken, 'r1');
        });

      test('OAuth 1.0a secrets and non-ASCII values round-trip', async () => {
        const { account } = await store.resolveIdentity('twitter', 'tw');
        const ref = { accountId: account.id, provider: 'twitter', resource: '' };
        const tokens = { accessToken: '12-abc', accessTokenSecret: 'sëcret/+=', scope: 'ünïcode ✓' };
        await store.putTokens(ref, tokens);
        assert.deepEqual((await store.getTokens(ref))?.tokens, tokens);
      });

      test('a sealed row copied to another account does not open as theirs', async () => {
        const { account: a } = await store.resolveIdentity('google', 'victim');
        const { account: b } = await store.resolveIdentity('google', 'attacker');
        await store.putTokens({ accountId: a.id, provider: 'google', resource: '' }, { accessToken: 'victim-token' });
        await store.putTokens({ accountId: b.id, provider: 'google', resource: '' }, { accessToken: 'attacker-token' });
        await harness.query(
          url,
          `UPDATE provider_tokens SET sealed = (SELECT sealed FROM provider_tokens WHERE account_id = ?) WHERE account_id = ?`,
          [a.id, b.id],
        );
        await assert.rejects(
          store.getTokens({ accountId: b.id, provider: 'google', resource: '' }),
          (e: unknown) => e instanceof SealedValueError && e.reason === 'unauthentic',
        );
      });
    });

    describe('sessions', () => {
      test('a session is found by its secret until it expires or is revoked', async () => {
        const { account } = await store.resolveIdentity('google', 'sessions');
        const { secret, session } = await store.createSession({
          accountId: account.id,
          lifetimeMs: HOUR,
          data: { idp: 'google' },
        });
        assert.equal(session.expiresAt, clock + HOUR);
        assert.deepEqual(await store.getSession(secret), session);
        assert.equal(await store.getSession(`${secret}x`), undefined);
        assert.equal(await store.getSession(session.ref), undefined, 'the stored hash is not a bearer secret');

        const second = await store.createSession({ accountId: account.id, lifetimeMs: HOUR });
        assert.equal(await store.revokeSession(secret), true);
        assert.equal(await store.revokeSession(secret), false);
        assert.equal(await store.getSession(secret), undefined);
        assert.ok(await store.getSession(second.secret));

        const third = await store.createSession({ accountId: account.id, lifetimeMs: HOUR });
        assert.equal(await store.revokeAccountSessions(account.id), 2);
        assert.equal(await store.getSession(second.secret), undefined);
        assert.equal(await store.getSession(third.secret), undefined);
      });

      test('a live session is found by its reference too, never once revoked or expired', async () => {
        const { account } = await store.resolveIdentity('google', 'by-ref');
        const { secret, session } = await store.createSession({
          accountId: account.id,
          lifetimeMs: 1000,
          data: { n: 1 },
        });
        assert.deepEqual(await store.getSessionByRef(session.ref), session);
        assert.equal(await store.getSessionByRef(secret), undefined, 'the bearer secret is not a reference');
        const other = await store.createSession({ accountId: account.id, lifetimeMs: 1000 });
        assert.equal(await store.revokeSessionByRef(secret), false, 'the bearer secret is not a reference');
        assert.equal(await store.revokeSessionByRef(session.ref), true);
        assert.equal(await store.revokeSessionByRef(session.ref), false);
        assert.equal(await store.getSession(secret), undefined);
        assert.equal(await store.getSessionByRef(session.ref), undefined);
        clock += 1000;
        assert.equal(await store.getSessionByRef(other.session.ref), undefined);
      });

      test('an expired session is gone, and purgeExpired deletes it', async () => {
        const { account } = await store.resolveIdentity('google', 'expiry');
        const { secret } = await store.createSession({ accountId: account.id, lifetimeMs: 1000 });
        await store.issueCode('expiry', null, 1000);
        clock += 999;
        assert.ok(await store.getSession(secret));
        clock += 1;
        assert.equal(await store.getSession(secret), undefined);
        const purged = await store.purgeExpired();
        assert.ok(purged.sessions >= 1 && purged.codes >= 1, JSON.stringify(purged));
        assert.deepEqual(await store.purgeExpired(), {
          sessions: 0,
          codes: 0,
          oidcArtifacts: 0,
          signInFailures: 0,
          seenTokens: 0,
          auditEvents: 0,
        });
      });

      test('purgeExpired deletes a backlog larger than one batch, keeps what is live, and old sign-in failures only when asked', async () => {
        await store.purgeExpired();
        await Promise.all(Array.from({ length: 2500 }, (_, i) => store.issueCode('backlog', i, 1000)));
        const live = await store.issueCode('backlog', 'live', 10_000);
        await store.recordSignInFailure('old-failure');
        clock += 5000;
        await store.recordSignInFailure('new-failure');
        assert.equal((await store.purgeExpired()).codes, 2500);
        assert.ok(await store.getSignInFailures('old-failure'), 'failures are kept unless a window is given');
        assert.equal(await store.consumeCode('backlog', live), 'live');
        assert.ok((await store.purgeExpired({ signInFailuresMs: 5000 })).signInFailures >= 1);
        assert.equal(await store.getSignInFailures('old-failure'), undefined);
        assert.ok(await store.getSignInFailures('new-failure'));
      });

      test('an expired session is renewable within a window, never once revoked or past it; purging keeps the window', async () => {
        const { account } = await store.resolveIdentity('google', 'renewal');
        const { secret, session } = await store.createSession({
          accountId: account.id,
          lifetimeMs: 1000,
          data: { n: 2 },
        });
        const other = await store.createSession({ accountId: account.id, lifetimeMs: 1000 });
        const revoked = await store.createSession({ accountId: account.id, lifetimeMs: 1000 });
        clock += 1500;
        assert.equal(await store.getSession(secret), undefined, 'expired for ordinary use');
        assert.equal(await store.getSessionByRef(session.ref), undefined);
        assert.deepEqual(await store.getSessionByRef(session.ref, 600), session, 'found within the window');
        assert.equal(await store.getSessionByRef(session.ref, 400), undefined, 'not past it');
        assert.equal(
          (await store.purgeExpired({ renewableMs: 600 })).sessions,
          0,
          'sessions within the window are kept',
        );
        assert.equal(
          await store.revokeSessionByRef(revoked.session.ref),
          true,
          'an expired session can still be revoked',
        );
        assert.equal(
          await store.renewSession(revoked.session.ref, HOUR, 600),
          undefined,
          'a revoked session is not renewed',
        );
        assert.equal(
          await store.renewSession(session.ref, HOUR, 400),
          undefined,
          'nor one expired longer than the window',
        );

        const renewed = await store.renewSession(session.ref, HOUR, 600);
        assert.deepEqual(renewed, { ...session, expiresAt: clock + HOUR });
        assert.deepEqual(await store.getSession(secret), renewed, 'the same secret works again');
        assert.equal(await store.getSession(other.secret), undefined, 'only that session');
        clock += 1000;
        assert.equal((await store.purgeExpired({ renewableMs: 600 })).sessions, 1, 'purged once past the window');
        assert.equal(await store.getSessionByRef(other.session.ref, 600), undefined);
      });

      test('a session keeps the device it was signed in on, cut like audit text; none given, none kept', async () => {
        const { account } = await store.resolveIdentity('google', 'devices');
        const userAgent = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36';
        const { secret, session } = await store.createSession({
          accountId: account.id,
          lifetimeMs: HOUR,
          device: { userAgent, address: '203.0.113.9' },
        });
        assert.deepEqual(session, {
          ref: session.ref,
          accountId: account.id,
          createdAt: clock,
          expiresAt: clock + HOUR,
          lastSeenAt: clock,
          userAgent,
          address: '203.0.113.9',
          data: {},
        });
        assert.deepEqual(await store.getSession(secret), session);
        assert.deepEqual(await store.getSessionByRef(session.ref), session);
        const bare = await store.createSession({ accountId: account.id, lifetimeMs: HOUR, device: {} });
        assert.equal('userAgent' in bare.session || 'address' in bare.session, false);
        assert.deepEqual(await store.getSession(bare.secret), bare.session);
        // A hostile client's 10 KB header (astral characters: cut between code points, never inside one).
        const hostile = await store.createSession({
          accountId: account.id,
          lifetimeMs: HOUR,
          device: { userAgent: '😀'.repeat(5000), address: 'x'.repeat(10_000) },
        });
        const stored = (await store.getSession(hostile.secret))!;
        assert.equal(stored.userAgent, '😀'.repeat(AUDIT_TEXT_MAX));
        assert.equal(stored.address, 'x'.repeat(AUDIT_TEXT_MAX));
        assert.deepEqual(stored, hostile.session);
      });

      test('touchSession: the later use wins, a live session only, renewal keeps it, and no change is told', async () => {
        const { account } = await store.resolveIdentity('google', 'touched');
        const heard: StoreChange[] = [];
        const stop = store.watch((change) => heard.push(change));
        const { secret, session } = await store.createSession({ accountId: account.id, lifetimeMs: HOUR });
        const start = clock;
        await store.touchSession(session.ref, start + 60_000);
        assert.equal((await store.getSession(secret))?.lastSeenAt, start + 60_000);
        await store.touchSession(session.ref, start + 30_000);
        assert.equal((await store.getSession(secret))?.lastSeenAt, start + 60_000, 'a use told late does not go back');
        // Another instance whose clock is ahead: its time is kept (a session is never judged older than it is).
        await store.touchSession(session.ref, start + 10 * 60_000);
        assert.equal((await store.getSession(secret))?.lastSeenAt, start + 10 * 60_000);
        clock += 1000;
        const renewed = await store.renewSession(session.ref, HOUR);
        assert.equal(renewed?.lastSeenAt, start + 10 * 60_000, 'renewal is not a use');
        stop();
        assert.deepEqual(heard, [], 'uses tell nothing: caches keep their answers');

        const expired = await store.createSession({ accountId: account.id, lifetimeMs: 1000 });
        const revoked = await store.createSession({ accountId: account.id, lifetimeMs: HOUR });
        await store.revokeSessionByRef(revoked.session.ref);
        clock += 1000;
        await store.touchSession(expired.session.ref, clock);
        await store.touchSession(revoked.session.ref, clock);
        await store.touchSession('no-such-session', clock);
        assert.equal(
          (await store.getSessionByRef(expired.session.ref, HOUR))?.lastSeenAt,
          expired.session.createdAt,
          'an ended session is not used',
        );
        assert.deepEqual(
          await harness.query(url, 'SELECT id_hash FROM sessions WHERE id_hash = ?', [revoked.session.ref]),
          [],
          'nor brought back',
        );
      });
    });

    describe('one-time codes', () => {
      test('a code gives its payload once, only for its purpose, only before it expires', async () => {
        const code = await store.issueCode('sso', { host: 'app1.localhost' }, 60_000);
        assert.equal(await store.consumeCode('other-purpose', code), undefined);
        assert.deepEqual(await store.consumeCode('sso', code), { host: 'app1.localhost' });
        assert.equal(await store.consumeCode('sso', code), undefined);
        const late = await store.issueCode('sso', 1, 60_000);
        clock += 60_000;
        assert.equal(await store.consumeCode('sso', late), undefined);
      });

      test('of 20 concurrent consumers exactly one gets the code', async () => {
        for (let round = 0; round < 5; round++) {
          const code = await store.issueCode('race', { round }, 60_000);
          const results = await Promise.all(Array.from({ length: 20 }, () => store.consumeCode('race', code)));
          assert.deepEqual(
            results.filter((r) => r !== undefined),
            [{ round }],
          );
        }
      });
    });

    describe('values remembered once', () => {
      test('rememberOnce: true the first time only, per kind, until it expires; a repeat keeps the later expiry; purged after', async () => {
        await store.purgeExpired();
        assert.equal(await store.rememberOnce('id_token', 'token-a', clock + 1000), true);
        assert.equal(await store.rememberOnce('id_token', 'token-a', clock + 1000), false);
        assert.equal(
          await store.rememberOnce('oauth1_access_token', 'token-a', clock + 1000),
          true,
          'kinds are separate',
        );
        assert.equal(
          await store.rememberOnce('id_token', 'token-a', clock + 5000),
          false,
          'a repeat, remembered on to the later expiry',
        );
        clock += 1000;
        assert.equal(await store.rememberOnce('id_token', 'token-a', clock + 1000), false, 'still remembered');
        assert.equal((await store.purgeExpired()).seenTokens, 1, "the other kind's memory has expired");
        clock += 4000;
        assert.equal(
          await store.rememberOnce('id_token', 'token-a', clock + 1000),
          true,
          'an expired memory is as none',
        );
        clock += 1000;
        assert.equal((await store.purgeExpired()).seenTokens, 1);
      });

      test('of 20 concurrent callers with one value exactly one gets true', async () => {
        for (let round = 0; round < 5; round++) {
          const results = await Promise.all(
            Array.from({ length: 20 }, () => store.rememberOnce('id_token', `race-${round}`, clock + HOUR)),
          );
          assert.equal(results.filter(Boolean).length, 1);
        }
      });
    });

    describe('audit log', () => {
      test('an appended event comes back as written, at the store time, with an increasing id', async () => {
        const everyField = {
          kind: 'sign-in',
          outcome: 'ok',
          accountId: 'audit-ann',
          actor: 'audit-ann',
          app: 'wiki',
          address: '203.0.113.7',
          userAgent: 'Mozilla/5.0',
          requestId: 'req-1',
          detail: { provider: 'google', nested: [1, 'two', { three: null }], unicode: 'ü😀' },
        };
        const first = await store.appendAudit(everyField);
        assert.equal(first.at, clock);
        clock += 1;
        const second = await store.appendAudit({ kind: 'key-rotated', actor: 'cli' });
        assert.ok(second.id > first.id, 'ids increase in the order of appending');
        const listed = await store.listAudit({ limit: 2 });
        assert.deepEqual(listed, [
          { id: second.id, at: clock, kind: 'key-rotated', actor: 'cli' },
          { id: first.id, at: clock - 1, ...everyField },
        ]);
      });

      test('concurrent appends each get their own id', async () => {
        const events = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.appendAudit({ kind: 'admin-action', accountId: `audit-many-${i}` }),
          ),
        );
        assert.equal(new Set(events.map((e) => e.id)).size, 20);
      });

      test('listAudit: each filter, newest first, a limit and an id cursor that pages through all', async () => {
        clock += 1;
        const start = clock;
        const kinds = ['sign-in', 'sign-in-failed', 'sign-out', 'link', 'access-refused'];
        for (const [i, kind] of kinds.entries()) {
          clock = start + i * 1000;
          await store.appendAudit({ kind, accountId: i % 2 ? 'audit-bob' : 'audit-cy' });
        }
        const of = async (query: Omit<Parameters<Store['listAudit']>[0], 'limit'>, limit = 100) =>
          (await store.listAudit({ limit, ...query }))
            .filter((e) => e.accountId === 'audit-bob' || e.accountId === 'audit-cy')
            .map((e) => e.kind);
        assert.deepEqual(await of({ since: start }), [...kinds].reverse(), 'newest first');
        assert.deepEqual(
          await of({ since: start + 1000, until: start + 3000 }),
          ['sign-out', 'sign-in-failed'],
          'since inclusive, until exclusive',
        );
        assert.deepEqual(await of({ accountId: 'audit-bob' }), ['link', 'sign-in-failed']);
        assert.deepEqual(await of({ since: start, kinds: ['sign-in', 'link'] }), ['link', 'sign-in']);
        assert.deepEqual(await of({ accountId: 'audit-cy', kinds: ['sign-out', 'link'] }), ['sign-out']);
        assert.deepEqual(await of({ since: start + 5000 }), []);
        assert.deepEqual(await of({ since: start }, 2), ['access-refused', 'link'], 'limit keeps the newest');
        const paged: string[] = [];
        for (let before: number | undefined; ; ) {
          const page = await store.listAudit({ since: start, limit: 2, before });
          paged.push(...page.map((e) => e.kind));
          if (page.length < 2) break;
          before = page.at(-1)!.id;
        }
        assert.deepEqual(paged, [...kinds].reverse(), 'every event once, in order, page after page');
      });

      test('text fields are cut to their cap (whole characters); an oversized detail is refused', async () => {
        const long = '😀'.repeat(AUDIT_TEXT_MAX + 10);
        const event = await store.appendAudit({
          kind: 'sign-in',
          accountId: 'audit-long',
          userAgent: long,
          address: long,
        });
        const [stored] = await store.listAudit({ accountId: 'audit-long', limit: 1 });
        assert.deepEqual(stored, event);
        assert.equal(stored!.userAgent, '😀'.repeat(AUDIT_TEXT_MAX));
        assert.equal(stored!.address, '😀'.repeat(AUDIT_TEXT_MAX));
        await assert.rejects(
          store.appendAudit({ kind: 'sign-in', accountId: 'audit-long', detail: { blob: 'x'.repeat(5000) } }),
          {
            name: 'RangeError',
            message: /detail of an audit event of kind sign-in is \d+ characters once serialised, more than 4096/,
          },
        );
        assert.equal((await store.listAudit({ accountId: 'audit-long', limit: 10 })).length, 1, 'nothing written');
      });

      test('retention: purgeExpired deletes events older than auditMs only, and none without it', async () => {
        clock += DAY;
        const old = await store.appendAudit({ kind: 'sign-out', accountId: 'audit-kept' });
        clock += 1000;
        const young = await store.appendAudit({ kind: 'sign-in', accountId: 'audit-kept' });
        assert.equal((await store.purgeExpired()).auditEvents, 0);
        assert.ok((await store.purgeExpired({ auditMs: 1000 })).auditEvents >= 1, 'the events of earlier tests went');
        assert.deepEqual(
          (await store.listAudit({ accountId: 'audit-kept', limit: 10 })).map((e) => e.id),
          [young.id, old.id],
          'one exactly auditMs old stays',
        );
        clock += 1;
        assert.equal((await store.purgeExpired({ auditMs: 1000 })).auditEvents, 1);
        assert.deepEqual(await store.listAudit({ limit: 10 }), [young]);
      });
    });

    describe('audit counts', () => {
      test('auditCounts: buckets from the epoch, since inclusive, until exclusive, by kind, outcome, reason and provider', async () => {
        // A day boundary ahead of every earlier event: the range holds only this test's events.
        const base = Math.ceil((clock + DAY) / DAY) * DAY;
        const at = async (time: number, event: Parameters<Store['appendAudit']>[0]) => {
          clock = time;
          await store.appendAudit(event);
        };
        const google = { provider: 'google', method: 'provider' };
        await at(base, { kind: 'sign-in', outcome: 'success', detail: google });
        await at(base + HOUR - 1, { kind: 'sign-in', outcome: 'success', detail: google });
        await at(base + HOUR - 1, { kind: 'sign-in', outcome: 'failed', detail: { ...google, reason: 'denied' } });
        await at(base + HOUR, { kind: 'sign-in', outcome: 'failed', detail: { provider: 'gh', reason: 'denied' } });
        await at(base + HOUR, { kind: 'sign-in', outcome: 'failed', detail: { provider: 'gh', reason: 'denied' } });
        await at(base + HOUR + 1, {
          kind: 'access-refused',
          outcome: 'refused',
          detail: { reason: "it's; DROP TABLE x --" },
        });
        await at(base + HOUR + 2, { kind: 'access-refused', outcome: 'refused', detail: { reason: 'ü😀 "quoted"' } });
        await at(base + 2 * HOUR, { kind: 'refresh-failed', outcome: 'unreachable', detail: { provider: 'aad' } });
        // Details whose reason or provider is no string count without one.
        for (const detail of [
          { reason: 5, provider: true },
          { reason: { nested: 'x' } },
          'a string',
          [1],
          null,
          undefined,
        ])
          await at(base + 2 * HOUR + 5, { kind: 'odd', ...(detail !== undefined && { detail }) });
        clock = base + 3 * HOUR;

        const counts = (query: Partial<Parameters<Store['auditCounts']>[0]>) =>
          store.auditCounts({ since: base, until: base + 3 * HOUR, bucketMs: HOUR, ...query });
        assert.deepEqual(await counts({}), [
          { bucket: base, kind: 'sign-in', outcome: 'failed', reason: 'denied', provider: 'google', count: 1 },
          { bucket: base, kind: 'sign-in', outcome: 'success', provider: 'google', count: 2 },
          {
            bucket: base + HOUR,
            kind: 'access-refused',
            outcome: 'refused',
            reason: "it's; DROP TABLE x --",
            count: 1,
          },
          { bucket: base + HOUR, kind: 'access-refused', outcome: 'refused', reason: 'ü😀 "quoted"', count: 1 },
          { bucket: base + HOUR, kind: 'sign-in', outcome: 'failed', reason: 'denied', provider: 'gh', count: 2 },
          { bucket: base + 2 * HOUR, kind: 'odd', count: 6 },
          { bucket: base + 2 * HOUR, kind: 'refresh-failed', outcome: 'unreachable', provider: 'aad', count: 1 },
        ]);
        const total = (rows: Awaited<ReturnType<typeof counts>>) => rows.reduce((sum, row) => sum + row.count, 0);
        assert.equal(
          total(await counts({ since: base + 1 })),
          13,
          'since is inclusive: only the event at base is left out',
        );
        assert.equal(
          total(await counts({ until: base + HOUR })),
          3,
          'until is exclusive: the events at base + 1h are out',
        );
        assert.deepEqual(
          await counts({ kinds: ['refresh-failed', 'access-refused'], since: base + HOUR + 2 }),
          [
            { bucket: base + HOUR, kind: 'access-refused', outcome: 'refused', reason: 'ü😀 "quoted"', count: 1 },
            { bucket: base + 2 * HOUR, kind: 'refresh-failed', outcome: 'unreachable', provider: 'aad', count: 1 },
          ],
          'kinds filter',
        );
        assert.deepEqual(await counts({ kinds: ['no-such-kind'] }), []);
        assert.deepEqual(
          (await counts({ bucketMs: DAY })).map((row) => [row.bucket, row.kind, row.outcome, row.count]),
          [
            [base, 'access-refused', 'refused', 1],
            [base, 'access-refused', 'refused', 1],
            [base, 'odd', undefined, 6],
            [base, 'refresh-failed', 'unreachable', 1],
            [base, 'sign-in', 'failed', 2],
            [base, 'sign-in', 'failed', 1],
            [base, 'sign-in', 'success', 2],
          ],
          'a day: one bucket, still by reason and provider',
        );
        // Buckets are counted from the epoch, whatever the range: 7 minutes do not divide a day.
        const seven = 7 * 60_000;
        const bucketOf = (time: number) => Math.floor(time / seven) * seven;
        assert.notEqual(bucketOf(base), base);
        assert.deepEqual(
          (await counts({ bucketMs: seven, kinds: ['sign-in'], until: base + HOUR })).map((row) => [
            row.bucket,
            row.outcome,
            row.count,
          ]),
          [
            [bucketOf(base), 'success', 1],
            [bucketOf(base + HOUR - 1), 'failed', 1],
            [bucketOf(base + HOUR - 1), 'success', 1],
          ],
        );
        for (const [since, until] of [
          [base, base],
          [base + HOUR, base],
          [base + 4 * HOUR, base + 5 * HOUR],
        ] as const)
          assert.deepEqual(await counts({ since, until }), [], `empty range ${since - base}..${until - base}`);
        for (const bucketMs of [0, -HOUR, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
          await assert.rejects(counts({ bucketMs }), { name: 'RangeError' }, String(bucketMs));
      });
    });

    describe('signing keys', () => {
      test('keys are listed with their private half opened, and retire once', async () => {
        const privateJwk = { kty: 'OKP', crv: 'Ed25519', x: 'pub', d: 'private-part-of-signing-key' };
        const added = await store.addSigningKey({
          kid: 'k1',
          alg: 'EdDSA',
          publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'pub' },
          privateJwk,
        });
        assert.deepEqual(await store.listSigningKeys(), [added]);
        clock += 10;
        await store.retireSigningKey('k1');
        const retiredAt = clock;
        clock += 10;
        await store.retireSigningKey('k1');
        const [listed] = await store.listSigningKeys();
        assert.equal(listed?.retiredAt, retiredAt);
        assert.deepEqual(listed?.privateJwk, privateJwk);
      });
    });

    describe('changes', () => {
      /** Collects what a store tells its watchers. */
      const watching = (watched: Store) => {
        const heard: StoreChange[] = [];
        const stop = watched.watch((change) => heard.push(change));
        return { heard, stop };
      };

      test("this store's watchers hear every change that concerns a cache, before the call resolves", async () => {
        const { heard, stop } = watching(store);
        const { account } = await store.resolveIdentity('watch', 'w-1');
        const { secret, session } = await store.createSession({ accountId: account.id, lifetimeMs: HOUR });
        assert.deepEqual(heard, [], 'a new account or session changes nothing cached');
        const expected: StoreChange[] = [];
        const step = async (action: Promise<unknown>, change: StoreChange) => {
          await action;
          expected.push(change);
          assert.deepEqual(heard, expected);
        };
        const changed: StoreChange = { kind: 'account-changed', accountId: account.id };
        const ref = { accountId: account.id, provider: 'watch', resource: '' };
        await step(store.putTokens(ref, { accessToken: 'a' }), changed);
        await step(
          store.changeTokens(ref, async () => ({ accessToken: 'b' })),
          changed,
        );
        await store.changeTokens(ref, async () => undefined);
        assert.equal(heard.length, expected.length, 'a change that changes nothing is not told');
        await step(store.deleteTokens(account.id), changed);
        await step(store.linkIdentity(account.id, 'watch-other', 'w-2'), changed);
        await step(store.unlinkIdentity(account.id, 'watch-other', 'w-2'), changed);
        await step(store.revokeSession(secret), { kind: 'session-ended', ref: session.ref });
        await store.revokeSession(secret);
        assert.equal(heard.length, expected.length, 'revoking it again tells nothing');
        await store.createSession({ accountId: account.id, lifetimeMs: HOUR });
        await step(store.revokeAccountSessions(account.id), changed);
        await step(store.setAccountDisabled(account.id, clock), changed);
        await step(store.setAccountDisabled(account.id, null), changed);
        await step(store.addSigningKey({ kid: 'watched', alg: 'EdDSA', publicJwk: {}, privateJwk: {} }), {
          kind: 'signing-keys-changed',
        });
        await step(store.retireSigningKey('watched'), { kind: 'signing-keys-changed' });
        await step(store.deleteAccount(account.id), changed);
        stop();
        await store.addSigningKey({ kid: 'unheard', alg: 'EdDSA', publicJwk: {}, privateJwk: {} });
        assert.equal(heard.length, expected.length, 'a stopped watcher hears nothing');
      });

      if (harness.clustered)
        test('another instance on the same database hears them within a second, once each; its own only from itself', async () => {
          const other = await openStore(url, { keyring, now: () => clock });
          try {
            const { heard, stop } = watching(other);
            const mine = watching(store);
            const { account } = await store.resolveIdentity('watch', 'w-3');
            const { secret, session } = await store.createSession({ accountId: account.id, lifetimeMs: HOUR });
            const started = performance.now();
            await store.revokeSession(secret);
            while (heard.length === 0 && performance.now() - started < 5000) await sleep(2);
            const latency = performance.now() - started;
            assert.deepEqual(heard, [{ kind: 'session-ended', ref: session.ref }]);
            assert.ok(latency < 1000, `heard after ${latency.toFixed(1)} ms`);
            await other.putTokens({ accountId: account.id, provider: 'watch', resource: '' }, { accessToken: 'x' });
            await sleep(200);
            assert.deepEqual(
              heard.slice(1),
              [{ kind: 'account-changed', accountId: account.id }],
              'told once, by itself',
            );
            assert.deepEqual(mine.heard, [
              { kind: 'session-ended', ref: session.ref },
              { kind: 'account-changed', accountId: account.id },
            ]);
            stop();
            mine.stop();
          } finally {
            await other.close();
          }
        });

      if (harness.clustered)
        test('a lost listening connection is told (deaf), re-opened (hearing), and changes are heard again (after heartbeats too)', async () => {
          const other = await openStore(url, { keyring, now: () => clock });
          try {
            const { heard, stop } = watching(other);
            // Past a heartbeat (every 5 s) of both listeners: their connections still show the LISTEN.
            await sleep(5_500);
            const schema = String((await harness.query(url, 'SELECT current_schema() AS schema'))[0]!.schema);
            const killed = await harness.query(
              url,
              'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE query = ?',
              [`LISTEN "${changeChannel(schema)}"`],
            );
            assert.equal(killed.length, 2, 'both stores listen on a connection of their own');
            for (
              const started = performance.now();
              !heard.some((c) => c.kind === 'hearing') && performance.now() - started < 5000;
            )
              await sleep(10);
            assert.deepEqual(
              heard.map((c) => c.kind),
              ['deaf', 'hearing'],
            );
            const { account } = await store.resolveIdentity('watch', 'w-4');
            await store
              .revokeAccountSessions(account.id)
              .then(() =>
                store.putTokens({ accountId: account.id, provider: 'watch', resource: '' }, { accessToken: 'y' }),
              );
            for (const started = performance.now(); heard.length < 3 && performance.now() - started < 5000; )
              await sleep(5);
            assert.deepEqual(heard.slice(2), [{ kind: 'account-changed', accountId: account.id }]);
            stop();
          } finally {
            await other.close();
          }
        });
    });

    describe('instance secrets', () => {
      test('made once: every caller, concurrent first callers included, gets the same 32 bytes; names are separate', async () => {
        const first = await Promise.all(Array.from({ length: 10 }, () => store.instanceSecret('pairwise')));
        assert.equal(first[0]!.length, 32);
        for (const value of first) assert.deepEqual(value, first[0]);
        assert.deepEqual(await store.instanceSecret('pairwise'), first[0]);
        assert.notDeepEqual(await store.instanceSecret('other'), first[0]);
      });
    });

    describe('at rest', () => {
      test('no token, session secret, code, payload or private key is stored in clear', async () => {
        const marker = `CLEAR-${Date.now()}`;
        const { account } = await store.resolveIdentity('google', 'at-rest');
        await store.putTokens(
          { accountId: account.id, provider: 'google', resource: '' },
          {
            accessToken: `${marker}-access`,
            refreshToken: `${marker}-refresh`,
            idToken: `${marker}-id`,
            accessTokenSecret: `${marker}-secret`,
          },
        );
        const { secret } = await store.createSession({
          accountId: account.id,
          lifetimeMs: HOUR,
          data: { claim: `${marker}-claim` },
        });
        const code = await store.issueCode('raw', { token: `${marker}-payload` }, HOUR);
        await store.addSigningKey({ kid: 'raw', alg: 'EdDSA', publicJwk: {}, privateJwk: { d: `${marker}-private` } });
        const instanceSecret = (await store.instanceSecret('at-rest')).toString('base64url');
        await store.rememberOnce('id_token', `${marker}-remembered`, clock + HOUR);
        await store.putTotpSecret(account.id, `${marker}-totp`, 1);
        const raw = await harness.rawContents(url);
        assert.ok(raw.includes(account.id), 'the raw reader sees what the store wrote');
        for (const needle of [marker, secret, code, instanceSecret])
          assert.ok(!raw.includes(needle), `found ${needle} in clear`);
      });

      test('values sealed under a key no longer configured fail with a typed error', async () => {
        const { account } = await store.resolveIdentity('google', 'old-key');
        const ref = { accountId: account.id, provider: 'google', resource: '' };
        await store.putTokens(ref, { accessToken: 'x' });
        const other = await openStore(url, { keyring: new Keyring([generateKey()]) });
        try {
          await assert.rejects(
            other.getTokens(ref),
            (e: unknown) => e instanceof SealedValueError && e.reason === 'unknown-key',
          );
        } finally {
          await other.close();
        }
        const rotated = await openStore(url, { keyring: new Keyring([generateKey(), key]) });
        try {
          assert.deepEqual((await rotated.getTokens(ref))?.tokens, { accessToken: 'x' });
        } finally {
          await rotated.close();
        }
      });
    });

    describe('key rotation', () => {
      test('after a new key is put first, every value is re-sealed under it in batches, and the old key can go', async () => {
        const fresh = await harness.newUrl();
        const oldKey = generateKey();
        const newKey = generateKey();
        const [oldId, newId] = [new Keyring([oldKey]).primaryKeyId, new Keyring([newKey]).primaryKeyId];
        const before = await openStore(fresh, { keyring: new Keyring([oldKey]) });
        const refs: Array<{ accountId: string; provider: string; resource: string }> = [];
        let oldSession: string;
        try {
          for (let i = 0; i < 5; i++) {
            const { account } = await before.resolveIdentity('idp', `rot-${i}`);
            await before.updateIdentity('idp', `rot-${i}`, { profile: { name: `User ${i}` }, emailKey: null });
            refs.push({ accountId: account.id, provider: 'idp', resource: '' });
            await before.putTokens(refs[i]!, { accessToken: `token-${i}` });
          }
          oldSession = (await before.createSession({ accountId: refs[0]!.accountId, lifetimeMs: HOUR, data: { n: 1 } }))
            .secret;
          await before.addSigningKey({ kid: 'rot', alg: 'EdDSA', publicJwk: {}, privateJwk: { d: 'secret' } });
          await before.instanceSecret('rot');
          await before.upsertOidcArtifact('Grant', 'G-rot', { accountId: refs[0]!.accountId }, undefined);
          await before.putProviderGroups(refs[0]!.accountId, 'idp', { groups: ['rot-group'], roles: [] });
          await before.putTotpSecret(refs[0]!.accountId, 'ROTSECRET', 1);
        } finally {
          await before.close();
        }
        const both = await openStore(fresh, { keyring: new Keyring([newKey, oldKey]) });
        try {
          const { account } = await both.resolveIdentity('idp', 'rot-new');
          await both.putTokens({ accountId: account.id, provider: 'idp', resource: '' }, { accessToken: 'new' });
          await both.createSession({ accountId: account.id, lifetimeMs: HOUR });
          const mixed = await both.keyUsage();
          const valuesUnder = (usage: typeof mixed, id: string) =>
            usage.sealed.filter((u) => u.keyId === id).reduce((n, u) => n + u.values, 0);
          // 5 profiles, 5 token sets, 1 session, 1 signing key, 1 instance secret, 1 artifact, 1 provider
          // groups, 1 TOTP secret.
          assert.equal(valuesUnder(mixed, oldId), 16);
          assert.equal(valuesUnder(mixed, newId), 2);
          assert.deepEqual(
            mixed.sessions.map((u) => [u.keyId, u.sessions]).sort(),
            [
              [newId, 1],
              [oldId, 1],
            ].sort(),
          );

          const first = await both.resealBatch(3);
          assert.equal(first.values, 3, 'a batch at most as large as asked');
          assert.equal(valuesUnder(await both.keyUsage(), oldId), 13, 'what is done stays done');
          // An interrupted pass: a new one from the start finds only what is left.
          let rounds = 0;
          for (
            let position = (await both.resealBatch(3)).next;
            position;
            position = (await both.resealBatch(3, position)).next
          )
            rounds++;
          assert.deepEqual(await both.resealBatch(3), { values: 0 }, 'a pass over everything finds nothing left');
          const after = await both.keyUsage();
          assert.equal(valuesUnder(after, oldId), 0);
          assert.equal(valuesUnder(after, newId), 18);
          assert.ok(rounds >= 4);
          assert.deepEqual(
            after.sessions.find((u) => u.keyId === oldId)?.sessions,
            1,
            'the old cookie still names the old key',
          );
        } finally {
          await both.close();
        }
        const raw = await harness.rawContents(fresh);
        assert.ok(!raw.includes(`v1.${oldId}.`), 'no value sealed under the old key is left');
        const only = await openStore(fresh, { keyring: new Keyring([newKey]) });
        try {
          for (const [i, ref] of refs.entries()) {
            assert.equal((await only.getTokens(ref))?.tokens.accessToken, `token-${i}`);
            assert.deepEqual((await only.findIdentity('idp', `rot-${i}`))?.profile, { name: `User ${i}` });
          }
          assert.deepEqual((await only.getSession(oldSession!))?.data, { n: 1 });
          assert.deepEqual((await only.listSigningKeys())[0]?.privateJwk, { d: 'secret' });
          assert.equal((await only.instanceSecret('rot')).length, 32);
          assert.ok(await only.findOidcArtifact('Grant', { id: 'G-rot' }));
          assert.deepEqual((await only.listProviderGroups(refs[0]!.accountId))[0]?.groups, ['rot-group']);
          assert.equal(await only.getTotpSecret(refs[0]!.accountId), 'ROTSECRET');
        } finally {
          await only.close();
        }
      });
    });

    describe('schema', () => {
      test('several instances starting at once migrate once and all work', async () => {
        const fresh = await harness.newUrl();
        const startAt = String(Date.now() + 2000);
        const starts = ['a', 'b', 'c', 'd'].map((name) =>
          execFileAsync(process.execPath, [child('open-store.ts'), fresh, key, name, startAt]),
        );
        const ids = (await Promise.all(starts)).map((r) => r.stdout);
        assert.equal(new Set(ids).size, 4);
        const check = await openStore(fresh, { keyring });
        await check.close();
        // Every migration step ran exactly once: re-running one would have failed on CREATE TABLE.
      });

      /** A new store whose schema stops before the migration step `name`. */
      const storeBefore = async (name: string) => {
        const fresh = await harness.newUrl();
        const step = MIGRATIONS.find((m) => m.name === name)!;
        await harness.query(
          fresh,
          'CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
        );
        for (const migration of MIGRATIONS.filter((m) => m.version < step.version)) {
          for (const statement of migration.statements) await harness.query(fresh, statement);
          await harness.query(fresh, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)', [
            migration.version,
            migration.name,
          ]);
        }
        return fresh;
      };

      test("a user disabled before accounts could be (a password credential's flag) is a disabled account once migrated", async () => {
        const fresh = await storeBefore('disabled accounts');
        for (const [id, disabledAt] of [
          ['acc-was-disabled', 1234],
          ['acc-was-enabled', null],
        ] as const) {
          await harness.query(fresh, 'INSERT INTO accounts (id, created_at) VALUES (?, 1)', [id]);
          await harness.query(
            fresh,
            `INSERT INTO password_credentials (provider, username, account_id, password_hash, created_at, updated_at, disabled_at)
            VALUES ('local', ?, ?, 'hash', 1, 1, ${disabledAt ?? 'NULL'})`,
            [id, id],
          );
        }
        const migrated = await openStore(fresh, { keyring });
        try {
          assert.equal((await migrated.getAccount('acc-was-disabled'))?.disabledAt, 1234);
          assert.equal((await migrated.getAccount('acc-was-enabled'))?.disabledAt, undefined);
          assert.deepEqual(await migrated.getPasswordCredential('local', 'acc-was-disabled'), {
            provider: 'local',
            username: 'acc-was-disabled',
            accountId: 'acc-was-disabled',
            passwordHash: 'hash',
          });
        } finally {
          await migrated.close();
        }
      });

      test('a session from before last uses were kept was last seen when it was created', async () => {
        const fresh = await storeBefore('session devices and last use');
        await harness.query(fresh, "INSERT INTO accounts (id, created_at) VALUES ('acc-old', 1)");
        await harness.query(
          fresh,
          "INSERT INTO sessions (id_hash, account_id, sealed_data, created_at, expires_at) VALUES ('old-session', 'acc-old', 'sealed', 1234, 99999)",
        );
        await (await openStore(fresh, { keyring })).close();
        assert.deepEqual(
          (await harness.query(fresh, 'SELECT last_seen_at, user_agent, address FROM sessions')).map((row) => ({
            ...row,
            last_seen_at: Number(row.last_seen_at),
          })),
          [{ last_seen_at: 1234, user_agent: null, address: null }],
        );
      });

      test('a store migrated by a newer SignOnce is refused with a clear error', async () => {
        const fresh = await harness.newUrl();
        await (await openStore(fresh, { keyring })).close();
        await harness.query(
          fresh,
          `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)`,
        );
        await assert.rejects(
          openStore(fresh, { keyring }),
          (e: unknown) => e instanceof StoreUnavailableError && /version 999, newer than this SignOnce/.test(e.message),
        );
      });
    });

    describe('crash safety', () => {
      test('every write acknowledged before SIGKILL is there after reopening', async () => {
        const fresh = await harness.newUrl();
        const tag = `crash${Date.now()}`;
        const writer = spawn(process.execPath, [child('crash-writer.ts'), fresh, key, tag], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const acknowledged: Array<[number, string]> = [];
        let buffered = '';
        writer.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          buffered += chunk;
          const lines = buffered.split('\n');
          buffered = lines.pop()!;
          for (const line of lines) {
            const [i, accountId] = line.split(' ');
            acknowledged.push([Number(i), accountId!]);
          }
          if (acknowledged.length >= 150 && !writer.killed) writer.kill('SIGKILL');
        });
        const [, signal] = await once(writer, 'exit');
        assert.equal(signal, 'SIGKILL');
        assert.ok(acknowledged.length >= 150);

        const reopened = await openStore(fresh, { keyring });
        try {
          for (const [i, accountId] of acknowledged) {
            const stored = await reopened.getTokens({ accountId, provider: 'crash', resource: '' });
            assert.deepEqual(
              stored?.tokens,
              { accessToken: `access-${tag}-${i}`, refreshToken: `refresh-${tag}-${i}`, expiresAt: i },
              `write ${i}`,
            );
          }
        } finally {
          await reopened.close();
        }
      });
    });
  });
}
