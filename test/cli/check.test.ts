// `signonce check` warns of apps and OpenID clients open to every user of a public provider.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { adminConsoleLines, openAccessWarnings } from '../../src/cli/check.ts';
import { parseConfig } from '../../src/config/index.ts';
import { generateKey } from '../../src/crypto/keyring.ts';
import { runCli } from '../support/cli.ts';
import { tempDir } from '../support/tmp.ts';

const KEY = generateKey();
const BASE = `publicUrl: http://auth.localhost:8080\nsecrets: { encryptionKeys: ["${KEY}"] }\n`;
const app = (id: string, more = '') => `{ id: ${id}, hosts: [${id}.localhost], upstream: "http://127.0.0.1:1"${more} }`;

test('openAccessWarnings: one line per app or client a public provider opens to the world', () => {
  const cases: Array<[string, string, string[]]> = [
    [
      'github, no rules',
      `providers: [{ id: gh, type: github, clientId: c }]\napps: [${app('wiki')}]`,
      ['every GitHub user can reach wiki (apps[0] has no access rules)'],
    ],
    [
      'every public type, named once each',
      `providers:
  - { id: gh, type: github, clientId: c }
  - { id: gh2, type: github, clientId: c }
  - { id: g, type: google, clientId: c }
  - { id: msa, type: microsoftaccount, clientId: c }
  - { id: fb, type: facebook, clientId: c }
  - { id: tw, type: twitter, consumerKey: c }
  - { id: apple, type: apple, clientId: c, teamId: T, keyId: K, privateKey: "\${APPLE_KEY}" }
apps: [${app('wiki')}]`,
      [
        'every GitHub, Google, Microsoft account, Facebook, X (Twitter) or Apple user can reach wiki (apps[0] has no access rules)',
      ],
    ],
    [
      'rules, Easy Auth v2 policy, or a public provider not offered: no warning',
      `providers: [{ id: gh, type: github, clientId: c }, { id: aad, type: aad, clientId: c }]
apps: [${app('a', ', access: [{ allow: { groups: [x] } }]')}, ${app('b', ', defaultAuthorizationPolicy: { allowedPrincipals: { groups: [g] } }')}, ${app('c', ', providers: [aad]')}, ${app('d', ', providers: [aad, gh]')}]`,
      ['every GitHub user can reach d (apps[3] has no access rules)'],
    ],
    [
      'a tenant or a self-hosted provider is not public',
      `providers: [{ id: aad, type: aad, clientId: c }, { id: idp, type: oidc, issuer: "https://idp.example", clientId: c }, { id: local, type: password }]\napps: [${app('wiki')}]`,
      [],
    ],
    [
      'OpenID clients',
      `providers: [{ id: g, type: google, clientId: c }]
clients:
  - { id: grafana, public: true, redirectUris: ["http://localhost/cb"] }
  - { id: ci, public: true, redirectUris: ["http://localhost/cb"], access: [{ allow: { groups: [ops] } }] }`,
      ['every Google user can sign in to grafana (clients[0] has no access rules)'],
    ],
  ];
  const privateKey = appleKey();
  for (const [name, text, expected] of cases)
    assert.deepEqual(openAccessWarnings(parseConfig(BASE + text, 'x.yaml', { APPLE_KEY: privateKey })), expected, name);
});

test('adminConsoleLines: off, or where the console is, how fresh a sign-in, and each rule in order', () => {
  const lines = (text: string) => adminConsoleLines(parseConfig(BASE + text, 'x.yaml', {}));
  assert.deepEqual(lines(''), ['admin console: off (admin.access lists no rules)']);
  assert.deepEqual(lines('admin: { access: [] }'), ['admin console: off (admin.access lists no rules)']);
  assert.deepEqual(
    lines(`providers: [{ id: aad, type: aad, clientId: c }]
admin:
  freshSignIn: 1h30m
  access:
    - { deny: { emails: [mallory@example.com] }, private: true }
    - { allow: { groups: [ops], providers: [aad] }, description: "Operators, signed in with Entra ID" }
    - { allow: { all: [{ emailDomains: [example.com] }, { roles: [Admin] }] } }`),
    [
      'admin console: http://auth.localhost:8080/.auth/admin (a sign-in within 1h30m for every page), for:',
      '  admin.access[0] deny: the verified e-mail mallory@example.com',
      '  admin.access[1] allow: Operators, signed in with Entra ID (a sign-in with aad or members of ops)',
      '  admin.access[2] allow: a verified e-mail at example.com and the role Admin',
      '  anyone else: refused',
    ],
  );
});

test('signonce check prints where the admin console is and who may use it', async () => {
  const { dir, remove } = await tempDir();
  after(remove);
  const file = join(dir, 'signonce.yaml');
  await writeFile(file, `${BASE}admin: { access: [{ allow: { accounts: [acc-1] } }] }\n`);
  const result = await runCli(['check', '--config', file]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    result.stdout,
    `${file}: ok (0 providers, 0 apps)\nadmin console: http://auth.localhost:8080/.auth/admin (a sign-in within 10m for every page), for:\n  admin.access[0] allow: the account acc-1\n  anyone else: refused\n`,
  );
});

/** An EC P-256 key in PKCS #8 PEM, as Apple hands out. */
function appleKey(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

test('signonce check prints the warnings on stderr and still exits 0', async () => {
  const { dir, remove } = await tempDir();
  after(remove);
  const file = join(dir, 'signonce.yaml');
  await writeFile(
    file,
    `${BASE}providers: [{ id: gh, type: github, clientId: c }]\napps: [${app('wiki')}, ${app('ops', ', access: [{ allow: { groups: [ops] } }]')}]\n`,
  );
  const result = await runCli(['check', '--config', file]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `${file}: ok (1 providers, 2 apps)\nadmin console: off (admin.access lists no rules)\n`);
  assert.equal(result.stderr, 'warning: every GitHub user can reach wiki (apps[0] has no access rules)\n');
});
