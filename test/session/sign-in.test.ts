// SignInCompletion with a MembershipReader: a sign-in (and a link) keeps what the provider says of
// the account's groups at once, read with the sign-in's own tokens from the real oidc-provider.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MembershipReader } from '../../src/access/memberships.ts';
import { Accounts } from '../../src/accounts/accounts.ts';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { OAuth2Provider } from '../../src/providers/oauth2.ts';
import { OidcProvider } from '../../src/providers/oidc.ts';
import type { Provider } from '../../src/providers/index.ts';
import { TokenRefresher } from '../../src/refresh/refresher.ts';
import { SignInCompletion } from '../../src/session/sign-in.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { githubStyle, startOidcProvider, type TestIdp } from '../support/idp.ts';
import { providerSignIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';

const CALLBACK = 'http://127.0.0.1:9/callback';
let idp: TestIdp;
let store: Store;
let remove: () => Promise<void>;

before(async () => {
  idp = await startOidcProvider([CALLBACK]);
  const temp = await tempDir();
  remove = temp.remove;
  store = await openStore(`sqlite:${join(temp.dir, 's.db')}`, { keyring: new Keyring([generateKey()]) });
});
after(async () => {
  await store?.close();
  await idp?.close();
  await remove?.();
});

test('a sign-in and a link record the memberships their provider tells, before the session is handed out', async () => {
  const aad = new OidcProvider({
    id: 'aad',
    type: 'oidc',
    displayName: 'Entra',
    issuer: idp.issuer,
    clientId: idp.clientId,
    clientSecret: idp.clientSecret,
    scopes: ['openid'],
  });
  const github = new OAuth2Provider({ ...githubStyle(idp), id: 'github', displayName: 'GitHub' });
  const providers = new Map<string, Provider>([
    ['aad', aad],
    ['github', github],
  ]);
  const log = { info: () => undefined, warn: () => undefined };
  const completion = new SignInCompletion({
    store,
    accounts: new Accounts(store, { accounts: { linkByVerifiedEmail: [] } }),
    sessionLifetimeMs: 3_600_000,
    log,
    memberships: new MembershipReader({
      store,
      providers,
      refresher: new TokenRefresher(store),
      config: { groups: { refreshAfter: 600_000, maxAge: 3_600_000 }, providers: [] },
      log,
    }),
  });
  idp.setMemberships('kim', { groups: ['wiki-admins'], roles: ['Editor'], orgs: ['Acme'] });
  const device = {
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
    address: '192.0.2.4',
  };
  const { session } = await completion.establishSession(
    aad,
    await providerSignIn(aad, 'kim', CALLBACK),
    'wiki',
    device,
  );
  assert.deepEqual(
    [session.userAgent, session.address],
    [device.userAgent, device.address],
    'the session records its device',
  );
  assert.deepEqual(
    (await store.listProviderGroups(session.accountId)).map((g) => [g.provider, g.groups, g.roles]),
    [['aad', ['wiki-admins'], ['Editor']]],
  );
  const linked = await completion.link(session.ref, github, await providerSignIn(github, 'kim', CALLBACK));
  assert.ok('linked' in linked);
  assert.deepEqual(
    (await store.listProviderGroups(session.accountId)).map((g) => [g.provider, g.groups]),
    [
      ['aad', ['wiki-admins']],
      ['github', ['acme']],
    ],
  );
});
