// `signonce groups` through the real command (dist/), on a real SQLite store.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Accounts } from '../../src/accounts/accounts.ts';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { toClaims } from '../../src/providers/claims.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { groupNameProblem } from '../../src/accounts/groups.ts';
import { runCli, sqliteConfigured } from '../support/cli.ts';

test('group names: 1 to 128 characters, no control characters', () => {
  for (const name of ['ops', 'Wiki Admins', 'acme/wiki-admins', 'ünïcödé', 'x'.repeat(128), '😀'.repeat(128)])
    assert.equal(groupNameProblem(name), undefined, name);
  for (const name of ['', 'x'.repeat(129), 'a\nb', 'tab\there', '\u0000', 'del\u007f', 'c1\u0085'])
    assert.match(groupNameProblem(name)!, /is not a group name \(1 to 128 characters, no control characters\)/, name);
});

test('groups add, remove, list: local usernames, verified e-mails and account ids; an unknown user changes nothing', async () => {
  const { file, env, storeUrl, remove } = await sqliteConfigured([
    'providers: [{ id: local, type: password }, { id: aad, type: oidc, issuer: "http://127.0.0.1:9", clientId: c }]',
  ]);
  after(remove);
  const groups = (...args: string[]) => runCli(['groups', ...args, '--config', file], env);
  const withStore = async <T>(use: (store: Store) => Promise<T>): Promise<T> => {
    const store = await openStore(storeUrl, { keyring: new Keyring([env.TEST_KEY]) });
    try {
      return await use(store);
    } finally {
      await store.close();
    }
  };
  const { ann, bob } = await withStore(async (store) => {
    const registered = await new LocalAccounts(store).register('local', 'ann', 'a long enough password', 12);
    assert.ok(registered.ok);
    const federated = await new Accounts(store, { accounts: { linkByVerifiedEmail: [] } }).signIn({
      provider: 'aad',
      subject: 'bob-sub',
      name: 'Bob',
      claims: toClaims({ sub: 'bob-sub', email: 'bob@example.com', email_verified: true }),
    });
    return { ann: registered.accountId, bob: federated.accountId };
  });

  const unknown = await groups('add', 'wiki-admins', 'ann', 'nobody@example.com');
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    /no user "nobody@example.com" \(an account id, a username of a password provider, a verified e-mail, or an identity's subject at a provider\)\nnothing changed/,
  );
  assert.deepEqual(await withStore((s) => s.listGroups()), [], 'nothing changed');

  const added = await groups('add', 'wiki-admins', 'ANN', 'Bob@Example.com');
  assert.equal(added.code, 0, added.stderr);
  assert.equal(added.stdout, 'added 2 of 2 account(s) to wiki-admins\n');
  assert.equal(
    (await groups('add', 'wiki-admins', ann)).stdout,
    'added 0 of 1 account(s) to wiki-admins (1 already in it)\n',
  );
  assert.equal((await groups('add', 'ops', bob)).code, 0);
  assert.deepEqual(await withStore((s) => s.groupsOf(bob)), ['ops', 'wiki-admins']);

  const listed = await groups('list');
  assert.equal(listed.stdout, 'ops\t1\nwiki-admins\t2\n');
  const members = await groups('list', 'wiki-admins');
  assert.equal(members.code, 0);
  const lines = members.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines.find((l) => l.startsWith(ann))!, /\tlocal:ann$/);
  assert.match(lines.find((l) => l.startsWith(bob))!, /\taad:bob-sub$/);

  const removed = await groups('remove', 'wiki-admins', 'ann');
  assert.equal(removed.stdout, 'removed 1 of 1 account(s) from wiki-admins\n');
  assert.deepEqual(await withStore((s) => s.groupsOf(ann)), []);
  const none = await groups('list', 'no-such-group');
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no group "no-such-group"/);

  const badName = await groups('add', 'bad\u0007name', 'ann');
  assert.equal(badName.code, 2);
  assert.match(badName.stderr, /is not a group name/);
  for (const args of [
    ['add', 'wiki-admins'],
    ['list', 'a', 'b'],
    ['rename', 'a'],
  ])
    assert.equal((await groups(...args)).code, 2);
});
