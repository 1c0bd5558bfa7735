// MembershipReader against a real oidc-provider (groups in ID tokens, Entra-style overage answered
// by its Graph-shaped endpoint) and its GitHub-style orgs and teams lists, over a real SQLite store.
// Tokens come from real sign-ins through the providers' own code flow.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { MembershipReader } from '../../src/access/memberships.ts';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { OAuth2Provider } from '../../src/providers/oauth2.ts';
import { OidcProvider } from '../../src/providers/oidc.ts';
import type { Provider } from '../../src/providers/index.ts';
import { TokenRefresher } from '../../src/refresh/refresher.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { githubStyle, startOidcProvider, type TestIdp } from '../support/idp.ts';
import { freePort } from '../support/ports.ts';
import { tempDir } from '../support/tmp.ts';
import { providerSignIn } from '../support/sign-in.ts';

const MINUTE = 60_000;
const CALLBACK = 'http://127.0.0.1:9/callback';
const GROUPS = { refreshAfter: 10 * MINUTE, maxAge: 30 * MINUTE };

let idp: TestIdp;
let store: Store;
let remove: () => Promise<void>;
let clock = Date.now();
let providers: Map<string, Provider>;
let warnings: Array<Record<string, unknown>>;

before(async () => {
  idp = await startOidcProvider([CALLBACK]);
  const temp = await tempDir();
  remove = temp.remove;
  store = await openStore(`sqlite:${join(temp.dir, 's.db')}`, {
    keyring: new Keyring([generateKey()]),
    now: () => clock,
  });
  const oidc = { type: 'oidc', issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret };
  const { orgsUrl, teamsUrl, ...oauth2 } = githubStyle(idp);
  providers = new Map<string, Provider>([
    [
      'aad',
      new OidcProvider({
        ...oidc,
        id: 'aad',
        displayName: 'Entra',
        scopes: ['openid', 'email', 'offline_access'],
        graphUrl: idp.issuer,
      }),
    ],
    ['nograph', new OidcProvider({ ...oidc, id: 'nograph', displayName: 'No Graph', scopes: ['openid'] })],
    [
      'github',
      new OAuth2Provider({
        ...oauth2,
        id: 'github',
        displayName: 'GitHub',
        orgsUrl,
        teamsUrl,
      }),
    ],
    ['plain', new OAuth2Provider({ ...oauth2, id: 'plain', displayName: 'Plain OAuth' })],
  ]);
});
after(async () => {
  await store?.close();
  await idp?.close();
  await remove?.();
});

function reader(): MembershipReader {
  warnings = [];
  return new MembershipReader({
    store,
    providers,
    refresher: new TokenRefresher(store, () => clock),
    config: { groups: GROUPS, providers: [] },
    now: () => clock,
    log: { warn: (details, message) => void warnings.push({ ...details, message }) },
  });
}

/**
 * `user` signs in at the test IdP through `providerId`'s code flow; the account, its tokens kept.
 * (The IdP's GitHub-style user id is 4200 + the name's length: one name length per GitHub user.)
 */
async function signIn(providerId: string, user: string) {
  const result = await providerSignIn(providers.get(providerId)!, user, CALLBACK);
  const { account } = await store.resolveIdentity(providerId, result.subject);
  await store.putTokens({ accountId: account.id, provider: providerId, resource: '' }, result.tokens);
  return { accountId: account.id, tokens: result.tokens };
}

const sorted = (set: ReadonlySet<string>) => [...set].sort();

test("groups and roles from the ID token's claims, with SignOnce's own groups; names kept exactly", async () => {
  idp.setMemberships('ann', { groups: ['Wiki-Admins', 'ops'], roles: ['Reader'] });
  const { accountId } = await signIn('aad', 'ann');
  await store.addGroupMembers('local-editors', [accountId]);
  const memberships = await reader().read(accountId);
  assert.deepEqual(sorted(memberships.groups), ['Wiki-Admins', 'local-editors', 'ops']);
  assert.deepEqual(sorted(memberships.roles), ['Reader']);
  assert.deepEqual(memberships.unavailable, []);
  assert.deepEqual(
    (await store.listProviderGroups(accountId)).map((g) => [g.provider, g.groups, g.roles, g.readAt]),
    [['aad', ['Wiki-Admins', 'ops'], ['Reader'], clock]],
    'kept with the time it was read',
  );
});

test('group overage (_claim_names, and hasgroups): the groups are read from Graph page by page with the access token, ids lower-cased', async () => {
  const ids = ['A1B2C3D4-0000-4000-8000-000000000001', 'a1b2c3d4-0000-4000-8000-000000000002'];
  const graphGroups = [...ids, 'a1b2c3d4-0000-4000-8000-000000000003', 'A1B2C3D4-0000-4000-8000-000000000004'];
  for (const [user, overage] of [
    ['bea', 'claim-names'],
    ['cid', 'hasgroups'],
  ] as const) {
    idp.setMemberships(user, { overage, graphGroups, roles: ['Admin'] });
    const { accountId } = await signIn('aad', user);
    const before = idp.listRequests.answered;
    const memberships = await reader().read(accountId);
    assert.deepEqual(sorted(memberships.groups), graphGroups.map((id) => id.toLowerCase()).sort(), user);
    assert.deepEqual(sorted(memberships.roles), ['Admin']);
    assert.equal(idp.listRequests.answered - before, 2, 'two pages of two');
  }
});

test('group overage without graphUrl: the source is unavailable, saying why; SignOnce groups still count', async () => {
  idp.setMemberships('dan', { overage: 'claim-names', graphGroups: ['g'] });
  const { accountId } = await signIn('nograph', 'dan');
  await store.addGroupMembers('staff', [accountId]);
  const memberships = await reader().read(accountId);
  assert.deepEqual(sorted(memberships.groups), ['staff']);
  assert.equal(memberships.unavailable.length, 1);
  assert.match(memberships.unavailable[0]!, /^No Graph \(nograph\): .*group overage.*no graphUrl/);
  assert.equal(warnings.length, 1);
});

test('GitHub-style organisations and teams, paged by Link headers, lower-cased; a plain OAuth 2 provider tells none', async () => {
  idp.setMemberships('eve', {
    orgs: ['Acme', 'octo-org', 'third'],
    teams: [
      { org: 'Acme', slug: 'Wiki-Admins' },
      { org: 'octo-org', slug: 'ops' },
    ],
  });
  const { accountId } = await signIn('github', 'eve');
  await store.linkIdentity(accountId, 'plain', 'eve-plain');
  await store.putTokens({ accountId, provider: 'plain', resource: '' }, { accessToken: 'unused' });
  const before = idp.listRequests.answered;
  const memberships = await reader().read(accountId);
  assert.deepEqual(sorted(memberships.groups), ['acme', 'acme/wiki-admins', 'octo-org', 'octo-org/ops', 'third']);
  assert.deepEqual(sorted(memberships.roles), []);
  assert.deepEqual(memberships.unavailable, []);
  assert.equal(idp.listRequests.answered - before, 3, 'orgs in two pages, teams in one');
});

test('a next page on another origin is not followed: the bearer token never goes there, and the source is unavailable', async () => {
  let strayRequests = 0;
  const stray = createServer((_request, response) => {
    strayRequests++;
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"value":[]}');
  });
  const port = await freePort();
  await new Promise<void>((resolve) => stray.listen(port, '127.0.0.1', resolve));
  try {
    for (const origin of [`http://127.0.0.1:${port}`, idp.issuer.replace('127.0.0.1', 'localhost')]) {
      idp.lists.nextLinkOrigin = origin;
      idp.setMemberships('fiona', { overage: 'hasgroups', graphGroups: ['g1', 'g2', 'g3'], orgs: ['a', 'b', 'c'] });
      const graph = await signIn('aad', 'fiona');
      const github = await signIn('github', 'fiona');
      for (const { accountId } of [graph, github]) {
        const memberships = await reader().read(accountId);
        assert.equal(memberships.unavailable.length, 1, origin);
        assert.match(memberships.unavailable[0]!, /next page on another origin/);
        assert.deepEqual(sorted(memberships.groups), [], 'a list cut short is not used');
      }
    }
    assert.equal(strayRequests, 0);
  } finally {
    idp.lists.nextLinkOrigin = idp.issuer;
    stray.close();
  }
});

test('kept memberships: fresh ones used as they are; stale ones used and read again in the background, once', async () => {
  idp.setMemberships('gustav', { orgs: ['first'] });
  const { accountId } = await signIn('github', 'gustav');
  const memberships = reader();
  assert.deepEqual(sorted((await memberships.read(accountId)).groups), ['first']);
  idp.setMemberships('gustav', { orgs: ['second'] });
  clock += GROUPS.refreshAfter - 1;
  const before = idp.listRequests.answered;
  assert.deepEqual(sorted((await memberships.read(accountId)).groups), ['first'], 'fresh: not read again');
  assert.equal(idp.listRequests.answered, before);

  clock += 2;
  const reads = await Promise.all([memberships.read(accountId), memberships.read(accountId)]);
  for (const read of reads) assert.deepEqual(sorted(read.groups), ['first'], 'stale: used at once');
  await memberships.idle();
  assert.equal(idp.listRequests.answered - before, 2, 'one background read (orgs and teams) for both callers');
  assert.deepEqual(sorted((await memberships.read(accountId)).groups), ['second']);
});

test('too old and unreadable: unavailable, and nothing of the old memberships is used; stale and unreadable: used, the failure logged without the token', async () => {
  idp.setMemberships('halvard', { orgs: ['kept'] });
  const { accountId, tokens } = await signIn('github', 'halvard');
  const memberships = reader();
  await memberships.read(accountId);
  await idp.revoke(tokens.accessToken!);

  clock += GROUPS.refreshAfter;
  const refused = idp.listRequests.refused;
  assert.deepEqual(sorted((await memberships.read(accountId)).groups), ['kept']);
  await memberships.idle();
  assert.equal(idp.listRequests.refused - refused, 1, 'the background read was refused');
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.account, accountId);
  assert.match(String(warnings[0]!.reason), /answered 401/);
  assert.ok(!JSON.stringify(warnings).includes(tokens.accessToken!), 'no token in the log');

  clock += GROUPS.maxAge;
  const read = await memberships.read(accountId);
  assert.deepEqual(sorted(read.groups), []);
  assert.equal(read.unavailable.length, 1);
  assert.match(read.unavailable[0]!, /^GitHub \(github\): .*answered 401; what was read before is too old/);
});

test('tokens about to expire are refreshed before the provider is asked', async () => {
  idp.setMemberships('ida', { overage: 'hasgroups', graphGroups: ['g-ida'] });
  const { accountId, tokens } = await signIn('aad', 'ida');
  const grants = idp.refreshGrants;
  clock = tokens.expiresAt! - MINUTE;
  const memberships = await reader().read(accountId);
  assert.deepEqual(sorted(memberships.groups), ['g-ida']);
  assert.equal(idp.refreshGrants - grants, 1);
  const stored = await store.getTokens({ accountId, provider: 'aad', resource: '' });
  assert.notEqual(stored?.tokens.accessToken, tokens.accessToken);
});

test('recordSignIn keeps what the sign-in tokens tell at once; a read then asks no provider', async () => {
  idp.setMemberships('jo', { orgs: ['at-sign-in'] });
  const { accountId, tokens } = await signIn('github', 'jo');
  const memberships = reader();
  await memberships.recordSignIn(accountId, 'github', tokens);
  await memberships.recordSignIn(accountId, 'plain', tokens);
  const before = idp.listRequests.answered;
  assert.deepEqual(sorted((await memberships.read(accountId)).groups), ['at-sign-in']);
  assert.equal(idp.listRequests.answered, before);
  assert.deepEqual(
    (await store.listProviderGroups(accountId)).map((g) => g.provider),
    ['github'],
  );
  await memberships.recordSignIn(accountId, 'github', { accessToken: 'not-a-token' });
  assert.equal(warnings.length, 1, 'a failure is logged, not thrown');
});

test('tokens gone (signed out elsewhere): what was read is used until maxAge, then the source is unavailable, never dropped', async () => {
  idp.setMemberships('ingeborg', { orgs: ['acme'] });
  const { accountId } = await signIn('github', 'ingeborg');
  const memberships = reader();
  assert.deepEqual(sorted((await memberships.read(accountId)).groups), ['acme']);
  await store.deleteTokens(accountId);

  clock += GROUPS.refreshAfter;
  assert.deepEqual(sorted((await memberships.read(accountId)).groups), ['acme'], 'kept, while younger than maxAge');
  await memberships.idle();

  clock += GROUPS.maxAge;
  const read = await memberships.read(accountId);
  assert.deepEqual(sorted(read.groups), []);
  assert.deepEqual(read.unavailable, [
    'GitHub (github): no tokens are stored for this account; what was read before is too old (groups.maxAge)',
  ]);
});
