// The config of groups read from providers (README, "Groups from providers"): defaults, and
// refreshAfter within maxAge; the presets' membership endpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/config/index.ts';
import { generateKey } from '../../src/crypto/keyring.ts';
import { createProvider } from '../../src/providers/index.ts';

const env = { SIGNONCE_KEY: generateKey() };
const BASE = `publicUrl: http://auth.localhost:8080\nsecrets: { encryptionKeys: ["\${SIGNONCE_KEY}"] }\n`;

function problems(text: string): string[] {
  try {
    parseConfig(text, 'test.yaml', env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

test('groups: refreshAfter 10m and maxAge 1h by default; refreshAfter may not be longer than maxAge', () => {
  assert.deepEqual(parseConfig(BASE, 'test.yaml', env).groups, { refreshAfter: 600_000, maxAge: 3_600_000 });
  assert.deepEqual(parseConfig(`${BASE}groups: { refreshAfter: 1m, maxAge: 1m }`, 'test.yaml', env).groups, {
    refreshAfter: 60_000,
    maxAge: 60_000,
  });
  assert.deepEqual(problems(`${BASE}groups: { refreshAfter: 2h }`), [
    'groups.refreshAfter: must not be longer than maxAge (memberships older than maxAge are not used)',
  ]);
  assert.equal(problems(`${BASE}groups: { refreshAfter: soon }`).length, 1);
  assert.deepEqual(problems(`${BASE}groups: { every: 1m }`).length, 1);
});

test('graphUrl (OpenID Connect family) and orgsUrl/teamsUrl (OAuth 2 family): http(s) URLs; aad and github presets fill them in', () => {
  const providers = (yaml: string) => parseConfig(`${BASE}providers: [${yaml}]`, 'test.yaml', env).providers;
  const [aad, github, plain] = providers(
    '{ id: aad, type: aad, clientId: c }, { id: github, type: github, clientId: c }, { id: gh, type: oauth2, clientId: c, authorizationUrl: "https://gh.example/a", tokenUrl: "https://gh.example/t" }',
  );
  assert.equal(typeof createProvider(aad!).readGroups, 'function');
  assert.equal(typeof createProvider(github!).readGroups, 'function', 'the github preset reads orgs and teams');
  assert.equal(createProvider(plain!).readGroups, undefined, 'a plain OAuth 2 provider tells no groups');
  assert.deepEqual(
    problems(
      `${BASE}providers: [{ id: o, type: oidc, issuer: "https://idp.example", clientId: c, graphUrl: "ftp://x" }]`,
    ),
    ['providers[0].graphUrl: "ftp://x" is not an http(s) URL'],
  );
  assert.equal(
    problems(
      `${BASE}providers: [{ id: o, type: oidc, issuer: "https://idp.example", clientId: c, orgsUrl: "https://x" }]`,
    ).length,
    1,
    'orgsUrl is not an OpenID Connect field',
  );
});
