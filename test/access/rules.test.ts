// Access rules (src/access/rules.ts) as tables of hostile inputs: policies are read from config
// text by the real loader, so each case is what an operator writes. E-mails per OpenID Connect
// Core 1.0 section 5.1 (`email_verified`) and RFC 5321 section 2.4 (domains are case-insensitive;
// only ASCII is folded here), paths per RFC 3986 section 6 (what an upstream may take as the same).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessControl } from '../../src/access/control.ts';
import { compilePolicy, decide, decideAdmin, type AccessDecision, type AccessPolicy } from '../../src/access/rules.ts';
import type { AccessRequest, AccessSubject } from '../../src/access/types.ts';
import { parseConfig } from '../../src/config/index.ts';
import { generateKey } from '../../src/crypto/keyring.ts';
import { toClaims } from '../../src/providers/claims.ts';

const KEY = generateKey();
const PROVIDERS = [
  { id: 'aad', type: 'aad', clientId: 'c' },
  { id: 'gh', type: 'github', clientId: 'c' },
];

function config(owner: Record<string, unknown>) {
  return parseConfig(
    JSON.stringify({
      publicUrl: 'http://auth.localhost:8080',
      secrets: { encryptionKeys: [KEY] },
      providers: PROVIDERS,
      apps: [{ id: 'wiki', hosts: ['wiki.localhost'], upstream: 'http://127.0.0.1:1', ...owner }],
    }),
    'test.yaml',
    {},
  );
}
/** The policy of an app with these `access` rules, as the loader reads them. */
const policyOf = (access: unknown[]): AccessPolicy => compilePolicy(config({ access }).apps[0]!)!;

interface Who {
  claims?: Record<string, unknown>;
  groups?: string[];
  roles?: string[];
  unavailable?: string[];
  provider?: string;
  accountId?: string | null;
  emailTrusted?: boolean;
  /** A provider's bearer token's calling application; `alone`: client credentials, no user. */
  application?: { clientId: string; alone: boolean };
}
function subject(who: Who = {}): AccessSubject {
  return {
    accountId: who.accountId === null ? undefined : (who.accountId ?? 'acc-ann'),
    provider: who.provider ?? 'aad',
    claims: toClaims(who.claims ?? {}),
    emailTrusted: who.emailTrusted ?? false,
    memberships: {
      groups: new Set(who.groups ?? []),
      roles: new Set(who.roles ?? []),
      unavailable: who.unavailable ?? [],
    },
    ...(who.application && { application: who.application }),
  };
}
const verified = (email: string) => ({ email, email_verified: true });

/** `allow 0`, `deny 1` (refused by that rule), `refused` (no rule decided). */
function outcome(decision: AccessDecision): string {
  if (decision.rule === undefined) return decision.allowed ? 'allow' : 'refused';
  return `${decision.allowed ? 'allow' : 'deny'} ${decision.rule}`;
}

type Case = [name: string, who: Who, expected: string, request?: AccessRequest];
function check(policy: AccessPolicy, cases: readonly Case[]): void {
  for (const [name, who, expected, request = { path: '/', method: 'GET' }] of cases)
    assert.equal(outcome(decide(policy, subject(who), request)), expected, name);
}

test('no access config: every signed-in user, no rule', () => {
  const decision = decide(compilePolicy(config({}).apps[0]!), subject(), { path: '/', method: 'GET' });
  assert.deepEqual(decision, { allowed: true, reason: 'no access rules: every signed-in user gets in', used: {} });
});

test('emails: only a verified address, compared whole, ASCII case folded only', () => {
  const policy = policyOf([{ allow: { emails: ['Kim@Example.com', 'ii@example.com'] } }]);
  check(policy, [
    ['verified', { claims: verified('kim@example.com') }, 'allow 0'],
    ['verified as a string', { claims: { email: 'kim@example.com', email_verified: 'true' } }, 'allow 0'],
    ['ASCII case', { claims: verified('KIM@EXAMPLE.COM') }, 'allow 0'],
    ['not verified', { claims: { email: 'kim@example.com', email_verified: false } }, 'refused'],
    ['no email_verified', { claims: { email: 'kim@example.com' } }, 'refused'],
    ['no email_verified, provider trusted', { claims: { email: 'kim@example.com' }, emailTrusted: true }, 'allow 0'],
    [
      'provider trusted, but it says not verified',
      { claims: { email: 'kim@example.com', email_verified: false }, emailTrusted: true },
      'refused',
    ],
    ['email_verified "TRUE"', { claims: { email: 'kim@example.com', email_verified: 'TRUE' } }, 'refused'],
    ['email_verified twice', { claims: { email: 'kim@example.com', email_verified: [true, false] } }, 'refused'],
    ['KELVIN SIGN for K', { claims: verified('\u212Aim@example.com') }, 'refused'],
    ['dotted capital I (U+0130)', { claims: verified('\u0130i@example.com') }, 'refused'],
    ['Cyrillic е in the domain', { claims: verified('kim@\u0435xample.com') }, 'refused'],
    ['fullwidth letters', { claims: verified('\uFF4Bim@example.com') }, 'refused'],
    ['two "@"', { claims: verified('a@kim@example.com') }, 'refused'],
    ['trailing dot', { claims: verified('kim@example.com.') }, 'refused'],
    ['a subdomain', { claims: verified('kim@mail.example.com') }, 'refused'],
    ['a longer local part', { claims: verified('kimberly@example.com') }, 'refused'],
    [
      'two e-mails, one of them listed',
      { claims: { email: ['eve@evil.io', 'kim@example.com'], email_verified: true } },
      'refused',
    ],
    [
      'the WS-Federation name alone',
      {
        claims: {
          'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress': 'kim@example.com',
          email_verified: true,
        },
      },
      'refused',
    ],
    ['no claims at all', {}, 'refused'],
  ]);
});

test('emailDomains: exact, or subdomains only for *.; no trailing dots, empty labels or look-alikes', () => {
  const policy = policyOf([{ allow: { emailDomains: ['Example.com', '*.example.org'] } }]);
  check(policy, [
    ['the domain', { claims: verified('ann@example.com') }, 'allow 0'],
    ['the domain, ASCII case', { claims: verified('ann@EXAMPLE.Com') }, 'allow 0'],
    ['not verified', { claims: { email: 'ann@example.com' } }, 'refused'],
    ['trusted provider', { claims: { email: 'ann@example.com' }, emailTrusted: true }, 'allow 0'],
    ['a subdomain of an exact domain', { claims: verified('ann@mail.example.com') }, 'refused'],
    ['a longer domain', { claims: verified('ann@notexample.com') }, 'refused'],
    ['the domain as a prefix', { claims: verified('ann@example.com.evil.io') }, 'refused'],
    ['trailing dot', { claims: verified('ann@example.com.') }, 'refused'],
    ['Cyrillic а', { claims: verified('ann@ex\u0430mple.com') }, 'refused'],
    ['fullwidth', { claims: verified('ann@\uFF45xample.com') }, 'refused'],
    ['two "@"', { claims: verified('ann@evil.io@example.com') }, 'refused'],
    ['a subdomain for *.', { claims: verified('ann@eu.example.org') }, 'allow 0'],
    ['a deeper subdomain for *.', { claims: verified('ann@a.b.example.org') }, 'allow 0'],
    ['the apex for *.', { claims: verified('ann@example.org') }, 'refused'],
    ['an empty label for *.', { claims: verified('ann@.example.org') }, 'refused'],
    ['doubled dot for *.', { claims: verified('ann@a..example.org') }, 'refused'],
    ['trailing dot for *.', { claims: verified('ann@a.example.org.') }, 'refused'],
    ['no dot boundary for *.', { claims: verified('ann@aexample.org') }, 'refused'],
  ]);
});

test('groups and roles: exact and case-sensitive; unreadable memberships refuse, naming the source', () => {
  const policy = policyOf([{ allow: { groups: ['wiki-admins'] } }, { allow: { roles: ['Editor'] } }]);
  check(policy, [
    ['member', { groups: ['staff', 'wiki-admins'] }, 'allow 0'],
    ['no groups at all', {}, 'refused'],
    ['an empty group name', { groups: [''] }, 'refused'],
    ['another case', { groups: ['Wiki-Admins'] }, 'refused'],
    ['a prefix', { groups: ['wiki-admin'] }, 'refused'],
    ['role', { roles: ['Editor'] }, 'allow 1'],
    ['role in another case', { roles: ['editor'] }, 'refused'],
    ['a group named like the role', { groups: ['Editor'] }, 'refused'],
    ['unreadable, though a member', { groups: ['wiki-admins'], unavailable: ['aad: Graph answered 503'] }, 'deny 0'],
  ]);
  const decision = decide(policy, subject({ unavailable: ['aad: Graph answered 503', 'gh: timed out'] }), {});
  assert.equal(
    decision.reason,
    'access[0] needs group or role memberships, which cannot be read now: aad: Graph answered 503; gh: timed out',
  );
  assert.equal(decision.requirement, 'members of wiki-admins');
});

test('unreadable memberships: only conditions that need them refuse (Kleene: a known answer wins)', () => {
  const down = ['aad: Graph answered 503'];
  const policy = policyOf([
    { deny: { emails: ['intern@example.com'] } },
    { allow: { groups: ['ops'], emailDomains: ['example.com'] } },
    { allow: { all: [{ groups: ['admins'] }, { providers: ['gh'] }] } },
  ]);
  check(policy, [
    ['a deny by e-mail needs no groups', { claims: verified('intern@example.com'), unavailable: down }, 'deny 0'],
    ['the e-mail lets in, whatever the groups', { claims: verified('ann@example.com'), unavailable: down }, 'allow 1'],
    ['no e-mail: the groups would tell', { claims: verified('ann@other.io'), unavailable: down }, 'deny 1'],
  ]);
  const allOnly = policyOf([{ allow: { all: [{ groups: ['admins'] }, { providers: ['gh'] }] } }]);
  check(allOnly, [
    ['all: another provider, so the groups do not matter', { provider: 'aad', unavailable: down }, 'refused'],
    ['all: the provider matches, the groups would tell', { provider: 'gh', unavailable: down }, 'deny 0'],
    ['all: both', { provider: 'gh', groups: ['admins'] }, 'allow 0'],
  ]);
  const denyGroup = policyOf([{ deny: { groups: ['contractors'] } }, { allow: { authenticated: true } }]);
  check(denyGroup, [
    ['a deny on groups fails closed', { unavailable: down }, 'deny 0'],
    ['readable, not a contractor', {}, 'allow 1'],
    ['readable, a contractor', { groups: ['contractors'] }, 'deny 0'],
  ]);
});

test('claims: any claim of the name with one of the values, config scalars as JSON text, arrays flattened', () => {
  const policy = policyOf([{ allow: { claims: { level: [1, true], tags: 'b', dept: ['R&D'] } } }]);
  check(policy, [
    ['number as text', { claims: { level: 1 } }, 'allow 0'],
    ['number sent as a string', { claims: { level: '1' } }, 'allow 0'],
    ['boolean', { claims: { level: true } }, 'allow 0'],
    ['another spelling of the number', { claims: { level: '1.0' } }, 'refused'],
    ['leading zero', { claims: { level: '01' } }, 'refused'],
    ['"True"', { claims: { level: 'True' } }, 'refused'],
    ['an array, one of its values', { claims: { tags: ['a', 'b'] } }, 'allow 0'],
    ['an array as one string', { claims: { tags: 'a,b' } }, 'refused'],
    ['an object value', { claims: { tags: { b: true } } }, 'refused'],
    ['the name in another case', { claims: { Dept: 'R&D' } }, 'refused'],
    ['the value in another case', { claims: { dept: 'r&d' } }, 'refused'],
    ['no such claim', { claims: { other: 'b' } }, 'refused'],
  ]);
});

test('providers, accounts, authenticated', () => {
  check(policyOf([{ allow: { providers: ['gh'] } }]), [
    ['the provider', { provider: 'gh' }, 'allow 0'],
    ['another', { provider: 'aad' }, 'refused'],
    ['another case', { provider: 'GH' }, 'refused'],
  ]);
  check(policyOf([{ allow: { accounts: ['acc-1'] } }]), [
    ['the account', { accountId: 'acc-1' }, 'allow 0'],
    ['a prefix', { accountId: 'acc-10' }, 'refused'],
  ]);
  check(policyOf([{ allow: { authenticated: true } }]), [['anyone signed in', {}, 'allow 0']]);
});

test('applications: the calling application of a bearer token; an application alone matches no condition on users', () => {
  const app = (clientId: string, alone = true) => ({ application: { clientId, alone }, accountId: null });
  const allowWorker = policyOf([{ allow: { applications: ['orders-worker'] } }]);
  check(allowWorker, [
    ['the listed application, for itself', app('orders-worker'), 'allow 0'],
    ['another application', app('intruder'), 'refused'],
    ['ASCII case is not folded (client ids are exact)', app('Orders-Worker'), 'refused'],
    [
      "a user's token through the listed application",
      { ...app('orders-worker', false), accountId: 'acc-ann' },
      'allow 0',
    ],
    ['a session (no application)', {}, 'refused'],
  ]);
  // Every condition on users: an application alone matches none, whatever claims its token has.
  const onUsers = policyOf([
    { allow: { authenticated: true } },
    { allow: { providers: ['aad'] } },
    { allow: { emails: ['svc@example.com'], emailDomains: ['example.com'] } },
    { allow: { claims: { roles: ['Orders.All'] } } },
    { allow: { groups: ['staff'], roles: ['Orders.All'] } },
    { allow: { all: [{ providers: ['aad'] }, { claims: { roles: ['Orders.All'] } }] } },
  ]);
  check(onUsers, [
    [
      'an application alone, with a verified e-mail and roles in its token',
      { ...app('daemon'), claims: { ...verified('svc@example.com'), roles: ['Orders.All'] }, roles: ['Orders.All'] },
      'refused',
    ],
    [
      'its memberships unreadable: still refused, not undecided',
      { ...app('daemon'), unavailable: ['aad: down'] },
      'refused',
    ],
    ["a user's token of an application (not alone) is a user", { ...app('spa', false), accountId: null }, 'allow 0'],
  ]);
  // An application alone passes a deny rule on users, and is refused by a deny rule on applications.
  const deny = policyOf([
    { deny: { emailDomains: ['example.com'] } },
    { deny: { applications: ['intruder'] } },
    { allow: { applications: ['daemon', 'intruder'] } },
  ]);
  check(deny, [
    [
      'a deny rule on users does not match an application',
      { ...app('daemon'), claims: verified('x@example.com') },
      'allow 2',
    ],
    ['a deny rule on applications does', app('intruder'), 'deny 1'],
  ]);
  assert.equal(allowWorker.rules[0]!.describe, 'the application orders-worker');
});

test('rules in order: the first applying rule that matches decides; duplicates change nothing', () => {
  const intern = { claims: verified('intern@example.com') };
  const ann = { claims: verified('ann@example.com') };
  const denyFirst = policyOf([
    { deny: { emails: ['intern@example.com'] } },
    { allow: { emailDomains: ['example.com'] } },
  ]);
  check(denyFirst, [
    ['denied before the allow', intern, 'deny 0'],
    ['others allowed', ann, 'allow 1'],
  ]);
  const allowFirst = policyOf([
    { allow: { emailDomains: ['example.com'] } },
    { deny: { emails: ['intern@example.com'] } },
  ]);
  check(allowFirst, [['allowed before the deny', intern, 'allow 0']]);
  const duplicated = policyOf([
    { deny: { emails: ['intern@example.com'] } },
    { deny: { emails: ['intern@example.com'] } },
    { allow: { emailDomains: ['example.com'] } },
    { allow: { emailDomains: ['example.com'] } },
  ]);
  check(duplicated, [
    ['duplicate deny', intern, 'deny 0'],
    ['duplicate allow', ann, 'allow 2'],
    ['neither', { claims: verified('eve@evil.io') }, 'refused'],
  ]);
});

// The excludedPaths normaliser's spellings (test/gateway/excluded-paths.test.ts), and those an
// upstream may read as /admin: none may dodge a deny rule for /admin/*.
const DODGES = [
  '/admin',
  '/admin/',
  '/admin/x?y=1',
  '/public/../admin',
  '/public/./../admin',
  '/public/%2e%2e/admin',
  '/public/%2E%2E/admin',
  '/public/.%2e/admin',
  '/public%2f..%2fadmin',
  '/public/..%2fadmin',
  '/public\\..\\admin',
  '/public/%5c..%5cadmin',
  '/public/..;/admin',
  '/admin;x=1/y',
  '//admin',
  '/x//../admin',
  '/admin%23/x',
  '/admin%3f/x',
  '/public/%00/../admin',
  '/public/%zz',
  '/public/%252e%252e/admin',
  '/%61dmin/x',
  '/ADMIN/x',
  '/Admin',
  'admin',
  '*',
  'http://x/admin',
  '/admin x',
];

test('paths: no spelling dodges a deny rule; an allow rule takes only canonical paths, exactly', () => {
  const deny = policyOf([{ paths: ['/admin/*'], deny: { authenticated: true } }, { allow: { authenticated: true } }]);
  for (const path of DODGES) assert.equal(outcome(decide(deny, subject(), { path, method: 'GET' })), 'deny 0', path);
  assert.equal(outcome(decide(deny, subject(), {})), 'deny 0', 'no path at all');
  for (const path of ['/', '/public/x', '/administrator', '/admins/x', '/x/admin', '/public?to=/admin'])
    assert.equal(outcome(decide(deny, subject(), { path, method: 'GET' })), 'allow 1', path);

  const allow = policyOf([{ paths: ['/public/*', '/healthz'], allow: { authenticated: true } }]);
  for (const path of ['/public', '/public/', '/public/a/b.css', '/public/a%20b.png', '/healthz', '/healthz?x=/admin'])
    assert.equal(outcome(decide(allow, subject(), { path, method: 'GET' })), 'allow 0', path);
  for (const path of [
    ...DODGES,
    '/public/../admin',
    '/public/%2e%2e/admin',
    '/public/..;/admin',
    '/%70ublic/x',
    '/PUBLIC/x',
    '/healthz/',
    '/healthz;.css',
    '/publicity',
  ])
    assert.equal(outcome(decide(allow, subject(), { path, method: 'GET' })), 'refused', path);
  assert.equal(outcome(decide(allow, subject(), {})), 'refused', 'no path at all');
  assert.equal(allow.readsRequest, true, 'decisions vary with the path');
  assert.equal(policyOf([{ allow: { authenticated: true } }]).readsRequest, false);
});

test('methods: compared upper-case (ASCII); HEAD is not GET; no method falls under deny rules only', () => {
  const deny = policyOf([
    { methods: ['POST', 'delete'], deny: { authenticated: true } },
    { allow: { authenticated: true } },
  ]);
  const cases: Array<[string | undefined, string]> = [
    ['POST', 'deny 0'],
    ['post', 'deny 0'],
    ['DELETE', 'deny 0'],
    ['GET', 'allow 1'],
    ['HEAD', 'allow 1'],
    [undefined, 'deny 0'],
  ];
  for (const [method, expected] of cases)
    assert.equal(outcome(decide(deny, subject(), { path: '/', method })), expected, String(method));
  assert.equal(deny.readsRequest, true, 'decisions vary with the method');
  const allow = policyOf([{ methods: ['GET', 'POST'], paths: ['/docs/*'], allow: { authenticated: true } }]);
  const allowed: Array<[string | undefined, string, string]> = [
    ['GET', '/docs/a', 'allow 0'],
    ['get', '/docs/a', 'allow 0'],
    ['HEAD', '/docs/a', 'refused'],
    ['PUT', '/docs/a', 'refused'],
    ['GET', '/other', 'refused'],
    // LATIN SMALL LETTER LONG S upper-cases to "S" outside ASCII.
    ['po\u017Ft', '/docs/a', 'refused'],
    [undefined, '/docs/a', 'refused'],
  ];
  for (const [method, path, expected] of allowed)
    assert.equal(outcome(decide(allow, subject(), { path, method })), expected, `${method} ${path}`);
});

test("Easy Auth v2's defaultAuthorizationPolicy: groups and object ids (oid, or its WS-Federation name)", () => {
  const policy = compilePolicy(
    config({
      defaultAuthorizationPolicy: {
        allowedPrincipals: {
          groups: ['6F1C2A3B-0000-4000-8000-00000000000A'],
          identities: ['11111111-2222-4333-8444-555555555555'],
        },
      },
    }).apps[0]!,
  )!;
  check(policy, [
    ['group (ids are lower-case as Entra sends them)', { groups: ['6f1c2a3b-0000-4000-8000-00000000000a'] }, 'allow 0'],
    ['oid', { claims: { oid: '11111111-2222-4333-8444-555555555555' } }, 'allow 0'],
    [
      'objectidentifier',
      {
        claims: {
          'http://schemas.microsoft.com/identity/claims/objectidentifier': '11111111-2222-4333-8444-555555555555',
        },
      },
      'allow 0',
    ],
    ['another oid', { claims: { oid: '11111111-2222-4333-8444-555555555556' } }, 'refused'],
    ['the oid as sub', { claims: { sub: '11111111-2222-4333-8444-555555555555' } }, 'refused'],
  ]);
  assert.equal(policy.rules[0]?.source, 'defaultAuthorizationPolicy');
  assert.equal(
    policy.rules[0]?.describe,
    'members of 6f1c2a3b-0000-4000-8000-00000000000a or the user 11111111-2222-4333-8444-555555555555',
  );
});

test("plain words: each rule's describe, what would let one in, private rules say nothing", () => {
  const policy = policyOf([
    { deny: { emails: ['intern@example.com'] }, description: 'Interns use the staging wiki.' },
    { paths: ['/admin/*'], allow: { groups: ['wiki-admins', 'ops'], all: [{ roles: ['a'] }, { providers: ['gh'] }] } },
    { allow: { emailDomains: ['example.com', '*.example.org'] } },
    { allow: { claims: { dept: ['eng', 1] } }, private: true },
    { allow: { accounts: ['acc-1'], emails: ['kim@example.net'] }, description: 'Kim, for now' },
  ]);
  assert.deepEqual(
    policy.rules.map((rule) => rule.describe),
    [
      'Interns use the staging wiki.',
      'members of wiki-admins or ops or (the role a and a sign-in with gh)',
      'a verified e-mail at example.com or a subdomain of example.org',
      undefined,
      'Kim, for now',
    ],
  );
  const refused = decide(policy, subject({ claims: verified('eve@evil.io') }), { path: '/admin/x', method: 'GET' });
  assert.equal(refused.reason, 'no access rule lets this user in');
  assert.equal(
    refused.requirement,
    'members of wiki-admins or ops or (the role a and a sign-in with gh); or a verified e-mail at example.com or a subdomain of example.org; or Kim, for now',
  );
  const elsewhere = decide(policy, subject({ claims: verified('eve@evil.io') }), { path: '/', method: 'GET' });
  assert.equal(
    elsewhere.requirement,
    'a verified e-mail at example.com or a subdomain of example.org; or Kim, for now',
  );
  const intern = decide(policy, subject({ claims: verified('intern@example.com') }), { path: '/' });
  assert.deepEqual(
    [intern.reason, intern.requirement],
    ['access[0] refuses this user', 'Interns use the staging wiki.'],
  );
  const onlyPrivate = policyOf([{ allow: { groups: ['x'] }, private: true, description: 'secret' }]);
  const hidden = decide(onlyPrivate, subject(), { path: '/' });
  assert.equal(hidden.requirement, undefined);
  assert.equal(onlyPrivate.rules[0]?.describe, undefined);
  assert.doesNotMatch(JSON.stringify(hidden), /secret|"x"/);
  const plain = decide(
    policyOf([{ deny: { groups: ['x'] } }, { allow: { authenticated: true } }]),
    subject({ groups: ['x'] }),
    {},
  );
  assert.equal(plain.requirement, undefined, 'a deny without a description says nothing more');
});

test('used: the facts the deciding (or every failing) condition read', () => {
  const policy = policyOf([
    { allow: { emailDomains: ['example.com'] } },
    { allow: { groups: ['admins'] } },
    { allow: { claims: { dept: 'eng' } } },
  ]);
  const who = { claims: { ...verified('ann@other.io'), dept: 'ops', name: 'Ann' }, groups: ['b', 'a'], roles: ['r'] };
  const refused = decide(policy, subject(who), {});
  assert.deepEqual(refused.used, {
    groups: ['a', 'b'],
    claims: [
      { typ: 'email', val: 'ann@other.io' },
      { typ: 'email_verified', val: 'true' },
      { typ: 'dept', val: 'ops' },
    ],
  });
  const allowed = decide(policy, subject({ ...who, groups: ['admins'] }), {});
  assert.equal(outcome(allowed), 'allow 1');
  assert.deepEqual(Object.keys(allowed.used), ['groups']);
  assert.equal(decide(policy, subject({ claims: verified('ann@example.com') }), {}).used.groups, undefined);
});

test('OpenID clients: the same rules, decided without a path or method', () => {
  const parsed = parseConfig(
    JSON.stringify({
      publicUrl: 'http://auth.localhost:8080',
      secrets: { encryptionKeys: [KEY] },
      clients: [
        {
          id: 'grafana',
          public: true,
          redirectUris: ['http://localhost/cb'],
          access: [{ allow: { groups: ['ops'] } }],
        },
        { id: 'other', public: true, redirectUris: ['http://localhost/cb'] },
      ],
    }),
    'test.yaml',
    {},
  );
  const policy = compilePolicy(parsed.clients[0]!);
  assert.equal(outcome(decide(policy, subject({ groups: ['ops'] }), {})), 'allow 0');
  assert.equal(outcome(decide(policy, subject({ groups: ['dev'] }), {})), 'refused');
  assert.equal(compilePolicy(parsed.clients[1]!), undefined);
});

test('admin.access: off without rules; an application never administers; else the rules, default deny', async () => {
  const control = (admin: unknown, read = async (_accountId: string) => subject().memberships) => {
    const parsed = parseConfig(
      JSON.stringify({
        publicUrl: 'http://auth.localhost:8080',
        secrets: { encryptionKeys: [KEY] },
        providers: PROVIDERS,
        admin,
      }),
      'test.yaml',
      {},
    );
    return new AccessControl(parsed, { read });
  };
  const off = 'refused: the admin console is off (admin.access lists no rules)';
  const explain = (decision: AccessDecision) => `${outcome(decision)}: ${decision.reason}`;
  for (const admin of [undefined, {}, { access: [] }]) {
    const console = control(admin);
    assert.equal(console.adminPolicy(), undefined, JSON.stringify(admin));
    assert.equal(explain(decideAdmin(undefined, subject({ groups: ['ops'] }))), off);
    assert.equal(explain(await console.forAdmin('acc-ann', { provider: 'aad', claims: [] })), off);
  }

  const policy = control({
    access: [
      { deny: { emails: ['mallory@example.com'] } },
      { allow: { groups: ['ops'] } },
      { allow: { all: [{ emails: ['kim@example.com'] }, { providers: ['aad'] }] } },
    ],
  }).adminPolicy()!;
  assert.deepEqual(
    policy.rules.map((rule) => rule.source),
    ['admin.access[0]', 'admin.access[1]', 'admin.access[2]'],
    'reasons say whose rule decided',
  );
  const down = ['aad: Graph answered 503'];
  const cases: Array<[string, Who, string]> = [
    ['a member of ops', { groups: ['ops'] }, 'allow 1'],
    ['no rule matches: default deny', { groups: ['dev'] }, 'refused'],
    ['no facts at all', {}, 'refused'],
    ['deny first, though in ops', { groups: ['ops'], claims: verified('mallory@example.com') }, 'deny 0'],
    ['deny first, case folded', { groups: ['ops'], claims: verified('MALLORY@example.com') }, 'deny 0'],
    ['groups unreadable: refused, though a member', { groups: ['ops'], unavailable: down }, 'deny 1'],
    [
      'groups unreadable, the e-mail rule lets in',
      { claims: verified('kim@example.com'), unavailable: down },
      'deny 1',
    ],
    ['group name case', { groups: ['OPS'] }, 'refused'],
    ['a group with a trailing space', { groups: ['ops '] }, 'refused'],
    ['the e-mail, at the named provider', { claims: verified('kim@example.com') }, 'allow 2'],
    ['the e-mail at another provider', { claims: verified('kim@example.com'), provider: 'gh' }, 'refused'],
    ['the e-mail, not verified', { claims: { email: 'kim@example.com', email_verified: false } }, 'refused'],
    ['KELVIN SIGN for K', { claims: verified('\u212Aim@example.com') }, 'refused'],
    ['Cyrillic е in the domain', { claims: verified('kim@\u0435xample.com') }, 'refused'],
    ['fullwidth letters', { claims: verified('\uFF4Bim@example.com') }, 'refused'],
    ['a trailing dot', { claims: verified('kim@example.com.') }, 'refused'],
    ['two "@"', { claims: verified('a@kim@example.com') }, 'refused'],
    [
      'an application on behalf of a member',
      { groups: ['ops'], application: { clientId: 'x', alone: false } },
      'refused',
    ],
    ['an application alone', { groups: ['ops'], application: { clientId: 'x', alone: true } }, 'refused'],
  ];
  for (const [name, who, expected] of cases) assert.equal(outcome(decideAdmin(policy, subject(who))), expected, name);
  // Groups unreadable: the Kleene rule of the e-mail alone cannot let in past the ops rule before it.
  assert.match(
    decideAdmin(policy, subject({ groups: ['ops'], unavailable: down })).reason,
    /^admin\.access\[1\] needs group/,
  );
  assert.equal(
    decideAdmin(policy, subject({ groups: ['ops'], application: { clientId: 'x', alone: false } })).reason,
    "an application's token cannot administer: sign in to SignOnce",
  );

  // The subject AccessControl makes: memberships read only because the rules name groups.
  const reads: string[] = [];
  const byGroups = control({ access: [{ allow: { groups: ['ops'] } }] }, async (accountId) => {
    reads.push(accountId);
    return subject({ groups: ['ops'] }).memberships;
  });
  assert.equal(outcome(await byGroups.forAdmin('acc-ann', { provider: 'aad', claims: [] })), 'allow 0');
  const byAccount = control({ access: [{ allow: { accounts: ['acc-kim'] } }] }, async (accountId) => {
    reads.push(`unexpected ${accountId}`);
    return subject().memberships;
  });
  assert.equal(outcome(await byAccount.forAdmin('acc-kim', { provider: 'gh', claims: [] })), 'allow 0');
  assert.equal(outcome(await byAccount.forAdmin('acc-ann', { provider: 'gh', claims: [] })), 'refused');
  assert.deepEqual(reads, ['acc-ann']);
});

test('decisions are made once per subject and set of applying rules: other paths under the same rules reuse them', () => {
  const policy = policyOf([
    { paths: ['/admin/*'], allow: { groups: ['admins'] } },
    { paths: ['/admin/*'], deny: { authenticated: true } },
    { allow: { groups: ['staff'] } },
  ]);
  const ann = subject({ groups: ['staff'] });
  const page = decide(policy, ann, { path: '/a', method: 'GET' });
  assert.equal(page.allowed, true);
  assert.equal(
    decide(policy, ann, { path: '/b?x=1', method: 'POST' }),
    page,
    'the same rules apply: the same decision',
  );
  const admin = decide(policy, ann, { path: '/admin/x', method: 'GET' });
  assert.equal(admin.allowed, false, 'other rules apply: decided anew');
  assert.equal(decide(policy, ann, { path: '/admin/../admin/x' }).allowed, false);
  const other = subject({ groups: ['admins'] });
  assert.equal(
    decide(policy, other, { path: '/admin/x', method: 'GET' }).allowed,
    true,
    'another subject: its own decisions',
  );
});
