// Finding the accounts a text names (matchingAccounts, and findAccount for exactly one), over a
// real SQLite store, and the e-mail keys it relies on: kept for every verified e-mail, used for
// linking only by listed providers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Accounts } from '../../src/accounts/accounts.ts';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { findAccount, matchingAccounts } from '../../src/accounts/lookup.ts';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { toClaims } from '../../src/providers/claims.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { tempDir } from '../support/tmp.ts';

let store: Store;
let remove: () => Promise<void>;
const providers = [
  { id: 'local', type: 'password' },
  { id: 'staff', type: 'password' },
  { id: 'aad', type: 'aad' },
  { id: 'gh', type: 'github' },
] as never;

before(async () => {
  const temp = await tempDir();
  remove = temp.remove;
  store = await openStore(`sqlite:${join(temp.dir, 's.db')}`, { keyring: new Keyring([generateKey()]) });
});
after(async () => {
  await store?.close();
  await remove?.();
});

const person = (provider: string, subject: string, email: string, verified: boolean) => ({
  provider,
  subject,
  name: subject,
  claims: toClaims({ sub: subject, email, email_verified: verified }),
});

test('an identity of a provider not listed in linkByVerifiedEmail never joins an account by e-mail, though its key is kept', async () => {
  const accounts = new Accounts(store, { accounts: { linkByVerifiedEmail: ['google'] } });
  const first = await accounts.signIn(person('google', 'g-ann', 'ann@example.com', true));
  const other = await accounts.signIn(person('github', 'gh-ann', 'Ann@Example.com', true));
  assert.notEqual(other.accountId, first.accountId);
  assert.equal(other.linkedByEmail, false);
  const joined = await accounts.signIn(person('google', 'g-ann-2', 'ann@example.com', true));
  assert.deepEqual(joined, { accountId: first.accountId, linkedByEmail: true }, 'only listed providers count');
});

test('findAccount: by account id, by username at any password provider, by verified e-mail; unknown and ambiguous names say so', async () => {
  const accounts = new Accounts(store, { accounts: { linkByVerifiedEmail: [] } });
  const local = new LocalAccounts(store);
  const una = await local.register('local', 'una', 'a long enough password', 12);
  assert.ok(una.ok);
  const byEmail = await accounts.signIn(person('aad', 'aad-vic', 'vic@example.com', true));
  await accounts.signIn(person('aad', 'aad-wil', 'wil@example.com', false));
  const config = { providers };

  assert.deepEqual(await findAccount(store, config, una.accountId), { accountId: una.accountId });
  assert.deepEqual(
    await findAccount(store, config, 'UNA'),
    { accountId: una.accountId },
    'usernames as typed at sign-in',
  );
  assert.deepEqual(await findAccount(store, config, 'Vic@Example.com'), { accountId: byEmail.accountId });
  for (const unknown of ['wil@example.com', 'nobody', 'nobody@example.com', '']) {
    const found = (await findAccount(store, config, unknown)) as { problem: string };
    assert.match(
      found.problem,
      /^no user ".*" \(an account id, a username of a password provider, a verified e-mail, or an identity's subject at a provider\)$/,
      unknown,
    );
  }
  const twin = await local.register('staff', 'una', 'a long enough password', 12);
  assert.ok(twin.ok);
  const ambiguous = (await findAccount(store, config, 'una')) as { problem: string };
  assert.match(ambiguous.problem, /^"una" names 2 accounts \(.*\): name one by its account id$/);
});

test('matchingAccounts: every account the text names, each once with every reason; exact only', async () => {
  const accounts = new Accounts(store, { accounts: { linkByVerifiedEmail: [] } });
  const local = new LocalAccounts(store);
  const ida = await local.register('local', 'ida', 'a long enough password', 12);
  assert.ok(ida.ok);
  const jon = await accounts.signIn(person('aad', 'aad-jon', 'jon@example.com', true));
  // A subject that is another account's id, and one that is an e-mail (of its own account).
  const mimic = await accounts.signIn(person('gh', jon.accountId, 'mimic@example.com', false));
  const zed = await accounts.signIn(person('aad', 'zed@example.com', 'zed@example.com', true));
  // An identity at a provider the config no longer has.
  const ghost = await accounts.signIn(person('gone', 'ghost-1', 'ghost@example.com', false));
  const config = { providers };
  const cases: Array<[string, string, Array<[string, string[]]>]> = [
    ['an account id', ida.accountId, [[ida.accountId, ['account id']]]],
    [
      'a username, also the subject of its identity',
      'ida',
      [[ida.accountId, ['username at local', 'subject at local']]],
    ],
    ['a username as typed at sign-in', ' IDA', [[ida.accountId, ['username at local']]]],
    ['a verified e-mail, any case', 'Jon@EXAMPLE.com', [[jon.accountId, ['e-mail']]]],
    ['a subject', 'aad-jon', [[jon.accountId, ['subject at aad']]]],
    [
      "an account id that is another account's subject",
      jon.accountId,
      [
        [jon.accountId, ['account id']],
        [mimic.accountId, ['subject at gh']],
      ],
    ],
    ['a subject that is an e-mail', 'zed@example.com', [[zed.accountId, ['e-mail', 'subject at aad']]]],
    ['an unverified e-mail', 'mimic@example.com', []],
    ['a subject at a provider not configured', 'ghost-1', []],
    ['empty', '', []],
    ['a prefix', 'aad-j', []],
    ['SQL wildcards', 'aad-%', []],
    ['SQL wildcards in a username', 'id_', []],
    ['a quote', "ida' OR '1'='1", []],
    ['an e-mail with a NUL', 'jon@example.com\u0000', []],
    ['10 KB', 'x'.repeat(10_240), []],
  ];
  for (const [name, text, expected] of cases)
    assert.deepEqual(
      (await matchingAccounts(store, config, text)).map((match) => [match.accountId, match.reasons]),
      expected,
      name,
    );
  assert.ok(await store.getAccount(ghost.accountId), 'the ghost exists: only the search leaves it out');
  assert.deepEqual(await findAccount(store, config, 'aad-jon'), { accountId: jon.accountId }, 'findAccount too');
  assert.deepEqual(
    await findAccount(store, config, jon.accountId),
    { accountId: jon.accountId },
    "an account id names its account, though it is another's subject",
  );
});
