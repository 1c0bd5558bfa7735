// `signonce access check` through the real command (dist/), on a real SQLite store: a local
// account (also at GitHub), SignOnce groups added with `signonce groups`, memberships a provider
// said kept in the store, and a GitHub-style source that cannot be read.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Accounts } from '../../src/accounts/accounts.ts';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { toClaims } from '../../src/providers/claims.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { runCli } from '../support/cli.ts';
import { freePort } from '../support/ports.ts';
import { tempDir } from '../support/tmp.ts';

const env = { TEST_KEY: generateKey() };
let dir: string;
let file: string;
let remove: () => Promise<void>;
let ids: { ann: string; intern: string; carl: string };

const access = (...args: string[]) => runCli(['access', 'check', ...args, '--config', file], env);

async function withStore<T>(use: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(`sqlite:${join(dir, 'signonce.db')}`, { keyring: new Keyring([env.TEST_KEY]) });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/** An identity at `provider` joined to `accountId` (or a new account), with the profile of a sign-in. */
async function federated(
  store: Store,
  provider: string,
  subject: string,
  claims: Record<string, unknown>,
  accountId?: string,
): Promise<string> {
  const identity = {
    provider,
    subject,
    name: String(claims.name ?? subject),
    claims: toClaims({ sub: subject, ...claims }),
  };
  const accounts = new Accounts(store, { accounts: { linkByVerifiedEmail: [] } });
  if (accountId === undefined) return (await accounts.signIn(identity)).accountId;
  await accounts.link(accountId, identity);
  return accountId;
}

before(async () => {
  ({ dir, remove } = await tempDir());
  file = join(dir, 'signonce.yaml');
  // Nothing listens there: the GitHub Enterprise source cannot be read.
  const closed = `http://127.0.0.1:${await freePort()}`;
  const app = (id: string, access: string) =>
    `  - { id: ${id}, hosts: [${id}.localhost], upstream: "http://127.0.0.1:1", access: ${access} }`;
  await writeFile(
    file,
    [
      'publicUrl: http://auth.localhost:8080',
      'store: sqlite:./signonce.db',
      'secrets: { encryptionKeys: ["${TEST_KEY}"] }',
      'providers:',
      '  - { id: local, type: password }',
      '  - { id: aad, type: oidc, issuer: "http://127.0.0.1:9", clientId: c }',
      '  - { id: github, type: github, clientId: c }',
      `  - { id: ghe, type: github, displayName: GitHub Enterprise, clientId: c, orgsUrl: "${closed}/user/orgs", teamsUrl: "${closed}/user/teams" }`,
      'apps:',
      '  - id: wiki',
      '    hosts: [wiki.localhost]',
      '    upstream: http://127.0.0.1:1',
      '    access:',
      '      - deny: { emails: [intern@example.com] }',
      '        description: Interns use the staging wiki.',
      '      - { paths: [/admin/*], methods: [POST, PUT, DELETE], allow: { groups: [acme/wiki-admins] } }',
      '      - { paths: [/admin/*], deny: { authenticated: true } }',
      '      - allow: { groups: [wiki-editors] }',
      '      - allow: { all: [ { providers: [github] }, { groups: [acme] } ] }',
      '        private: true',
      app('vault', '[ { allow: { accounts: [nobody] }, private: true } ]'),
      app('open', '[ { allow: { authenticated: true } } ]'),
      'clients:',
      '  - { id: grafana, public: true, redirectUris: ["http://localhost/cb"], access: [ { allow: { groups: [ops] } } ] }',
    ].join('\n'),
  );
  ids = await withStore(async (store) => {
    const registered = await new LocalAccounts(store).register('local', 'ann', 'a long enough password', 12);
    assert.ok(registered.ok);
    const ann = await federated(
      store,
      'github',
      '4242',
      { name: 'Ann Smith', email: 'ann@example.com', email_verified: true },
      registered.accountId,
    );
    // What GitHub said at Ann's last sign-in, read just now: used as it is, GitHub is not asked.
    await store.putProviderGroups(ann, 'github', { groups: ['acme', 'acme/wiki-admins'], roles: [] });
    const intern = await federated(store, 'aad', 'intern-sub', { email: 'intern@example.com', email_verified: true });
    const carl = await federated(store, 'ghe', '77', { name: 'Carl', email: 'carl@example.com', email_verified: true });
    await store.putTokens({ accountId: carl, provider: 'ghe', resource: '' }, { accessToken: 'ghe-token' });
    return { ann, intern, carl };
  });
});
after(() => remove?.());

test('a group rule allows; private rules are named by their source; the requirement of those that would let in', async () => {
  const before = await access('--app', 'wiki', '--user', 'ann');
  assert.equal(before.code, 0, 'one identity is allowed');
  assert.equal(
    before.stdout,
    [
      `app wiki, GET /, account ${ids.ann} (ann)`,
      '  memberships: SignOnce: none; github (read just now): acme, acme/wiki-admins',
      '  signed in with local (ann): deny — no access rule lets this user in',
      '    requirement: members of wiki-editors',
      '    groups read: acme, acme/wiki-admins',
      '    claims read: none',
      '  signed in with github (Ann Smith): allow — access[4] lets this user in',
      '    rule: access[4]: allow (private: its condition is not shown to users; see the config)',
      '    groups read: acme, acme/wiki-admins',
      '',
    ].join('\n'),
  );

  assert.equal((await runCli(['groups', 'add', 'wiki-editors', 'ann', '--config', file], env)).code, 0);
  const after = await access('--app', 'wiki', '--user', 'ANN');
  assert.equal(after.code, 0);
  assert.match(
    after.stdout,
    /memberships: SignOnce: wiki-editors; github \(read (just now|\d+ s ago)\): acme, acme\/wiki-admins\n/,
  );
  assert.match(
    after.stdout,
    /signed in with local \(ann\): allow — access\[3\] lets this user in\n {4}rule: access\[3\]: allow members of wiki-editors\n {4}groups read: acme, acme\/wiki-admins, wiki-editors\n/,
  );
});

test('a deny rule refuses, naming the rule, its description and the claims it read', async () => {
  for (const user of ['intern@example.com', ids.intern]) {
    const denied = await access('--app', 'wiki', ...(user === ids.intern ? ['--account', user] : ['--user', user]));
    assert.equal(denied.code, 1);
    assert.match(denied.stdout, new RegExp(`^app wiki, GET /, account ${ids.intern}`));
    assert.match(
      denied.stdout,
      /signed in with aad \(intern-sub\): deny — access\[0\] refuses this user\n {4}rule: access\[0\]: deny Interns use the staging wiki\.\n {4}requirement: Interns use the staging wiki\.\n {4}claims read: email=intern@example\.com, email_verified=true\n$/,
    );
  }
});

test('--path and --method change the decision', async () => {
  const post = await access('--app', 'wiki', '--user', 'ann', '--path', '/admin/pages', '--method', 'post');
  assert.equal(post.code, 0);
  assert.match(post.stdout, /^app wiki, POST \/admin\/pages,/);
  assert.match(
    post.stdout,
    /signed in with local \(ann\): allow — access\[1\] lets this user in\n {4}rule: access\[1\] \(on \/admin\/\* for POST, PUT, DELETE\): allow members of acme\/wiki-admins\n/,
  );
  const get = await access('--app', 'wiki', '--user', 'ann', '--path', '/admin/pages');
  assert.equal(get.code, 1, 'no identity is allowed');
  assert.match(
    get.stdout,
    /signed in with github \(Ann Smith\): deny — access\[2\] refuses this user\n {4}rule: access\[2\] \(on \/admin\/\*\): deny every signed-in user\n/,
  );
  // Another spelling of the path falls under the deny rule all the same.
  assert.equal((await access('--app', 'wiki', '--user', 'ann', '--path', '/%61dmin/pages')).code, 1);
});

test('a source that cannot be read is named, and rules on groups refuse (fail closed)', async () => {
  const checked = await access('--app', 'wiki', '--user', 'carl@example.com');
  assert.equal(checked.code, 1);
  assert.match(checked.stdout, /\n {2}unavailable: GitHub Enterprise \(ghe\): .+\n/);
  assert.match(
    checked.stdout,
    /signed in with ghe \(Carl\): deny — access\[3\] needs group or role memberships, which cannot be read now: GitHub Enterprise \(ghe\): .+\n {4}rule: access\[3\]: allow members of wiki-editors\n {4}requirement: members of wiki-editors\n/,
  );
  assert.match(
    checked.stderr,
    /warning: the groups of an account could not be read from its provider \(account \S+, provider ghe, reason .+\)/,
  );
  assert.doesNotMatch(checked.stderr + checked.stdout, /ghe-token/, 'never a token');
  // A rule that reads no groups decides without them.
  const open = await access('--app', 'open', '--user', 'carl@example.com');
  assert.equal(open.code, 0);
  assert.doesNotMatch(open.stdout, /unavailable|memberships/);
});

test('--client: the client rules, without path or method', async () => {
  const denied = await access('--client', 'grafana', '--user', 'ann');
  assert.equal(denied.code, 1);
  assert.match(denied.stdout, new RegExp(`^client grafana, account ${ids.ann} \\(ann\\)\n`));
  assert.match(
    denied.stdout,
    /signed in with local \(ann\): deny — no access rule lets this user in\n {4}requirement: members of ops\n/,
  );
  assert.equal((await runCli(['groups', 'add', 'ops', ids.ann, '--config', file], env)).code, 0);
  const allowed = await access('--client', 'grafana', '--account', ids.ann);
  assert.equal(allowed.code, 0);
  assert.match(
    allowed.stdout,
    /signed in with github \(Ann Smith\): allow — access\[0\] lets this user in\n {4}rule: access\[0\]: allow members of ops\n {4}groups read: acme, acme\/wiki-admins, ops, wiki-editors\n/,
  );
  const mixed = await access('--client', 'grafana', '--user', 'ann', '--path', '/x');
  assert.equal(mixed.code, 2);
  assert.match(mixed.stderr, /--path and --method are for --app/);
});

test('--json: the same facts, with stable names', async () => {
  const checked = await access('--app', 'vault', '--user', 'intern@example.com', '--method', 'DELETE', '--json');
  assert.equal(checked.code, 1);
  assert.deepEqual(JSON.parse(checked.stdout), {
    app: 'vault',
    client: null,
    request: { path: '/', method: 'DELETE' },
    account: { id: ids.intern, user: 'intern@example.com', disabled: false },
    allowed: false,
    memberships: null,
    identities: [
      {
        provider: 'aad',
        subject: 'intern-sub',
        name: 'intern-sub',
        decision: {
          allowed: false,
          reason: 'no access rule lets this user in',
          rule: null,
          requirement: null,
          used: {},
        },
      },
    ],
  });
  const ann = JSON.parse((await access('--app', 'wiki', '--user', 'ann', '--path', '/admin/x', '--json')).stdout);
  assert.deepEqual(ann.identities[1].decision.rule, {
    index: 2,
    source: 'access[2]',
    effect: 'deny',
    describe: 'every signed-in user',
    private: false,
    paths: ['/admin/*'],
    methods: null,
  });
  assert.deepEqual(ann.memberships.signonce, ['ops', 'wiki-editors']);
  assert.deepEqual(
    ann.memberships.providers.map((p: { provider: string; groups: string[]; readAt: string }) => [
      p.provider,
      p.groups,
      Number.isFinite(Date.parse(p.readAt)),
    ]),
    [['github', ['acme', 'acme/wiki-admins'], true]],
  );
  assert.deepEqual(ann.memberships.unavailable, []);
});

test('exit 2 for an unknown user, app or client, and for usage errors', async () => {
  const cases: Array<[string[], RegExp]> = [
    [
      ['--app', 'wiki', '--user', 'nobody'],
      /no user "nobody" \(an account id, a username of a password provider, a verified e-mail, or an identity's subject at a provider\)/,
    ],
    [['--app', 'wiki', '--account', 'no-such-id'], /no account "no-such-id"/],
    [['--app', 'nope', '--user', 'ann'], /no app "nope" in the config \(apps: wiki, vault, open\)/],
    [['--client', 'nope', '--user', 'ann'], /no OpenID client "nope" in the config \(clients: grafana\)/],
    [['--user', 'ann'], /give one of --app ID or --client ID/],
    [['--app', 'wiki', '--client', 'grafana', '--user', 'ann'], /give one of --app ID or --client ID/],
    [['--app', 'wiki'], /give one of --user USER or --account ID/],
    [['--app', 'wiki', '--user', 'ann', '--path', 'admin'], /--path "admin" does not start with "\/"/],
    [['--app', 'wiki', '--user', 'ann', '--method', 'GE T'], /--method "GE T" is not an HTTP method/],
    [['--app', 'wiki', '--user', 'ann', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const failed = await access(...args);
    assert.equal(failed.code, 2, args.join(' '));
    assert.match(failed.stderr, message, args.join(' '));
    assert.equal(failed.stdout, '');
  }
  const noCheck = await runCli(['access', 'explain', '--app', 'wiki', '--user', 'ann', '--config', file], env);
  assert.equal(noCheck.code, 2);
  assert.match(noCheck.stderr, /usage: signonce access check/);
});

test('an identity without a recorded sign-in is not checked; a disabled account is refused whatever the rules say', async () => {
  await withStore((store) => store.linkIdentity(ids.ann, 'aad', 'ann-aad'));
  const linked = await access('--app', 'open', '--account', ids.ann);
  assert.equal(linked.code, 0);
  assert.match(linked.stdout, /\n {2}signed in with aad \(ann-aad\): not checked — no sign-in of it is recorded/);
  assert.match(linked.stdout, /\n {2}signed in with local \(ann\): allow — access\[0\] lets this user in\n/);

  assert.equal((await runCli(['accounts', 'disable', ids.ann, '--config', file], env)).code, 0);
  const disabled = await access('--app', 'open', '--account', ids.ann, '--json');
  assert.equal(disabled.code, 1);
  const report = JSON.parse(disabled.stdout);
  assert.equal(report.account.disabled, true);
  assert.equal(report.allowed, false);
  assert.equal(report.identities.find((i: { provider: string }) => i.provider === 'aad').decision, null);
  assert.match(
    (await access('--app', 'open', '--account', ids.ann)).stdout,
    /the account is disabled: it cannot sign in/,
  );
});
