import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  formatDuration,
  loadConfig,
  parseConfig,
  parseDuration,
  resolveConfigPath,
} from '../../src/config/index.ts';
import { generateKey } from '../../src/crypto/keyring.ts';
import { runCli } from '../support/cli.ts';
import { tempDir } from '../support/tmp.ts';

const KEY = generateKey();
const env = { SIGNONCE_KEY: KEY };
const BASE = `publicUrl: http://auth.localhost:8080\nsecrets: { encryptionKeys: ["\${SIGNONCE_KEY}"] }\n`;

function problems(text: string, environment: NodeJS.ProcessEnv = env): string[] {
  try {
    parseConfig(text, 'test.yaml', environment);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

test('durations: the accepted forms, and hostile ones refused', () => {
  const good: Array<[string | number, number]> = [
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['8h', 28_800_000],
    ['2d', 172_800_000],
    ['1h30m', 5_400_000],
    ['1d2h3m4s', 93_784_000],
    ['0s', 0],
    [3600, 3_600_000],
    [0, 0],
    ['250ms', 250],
    ['30', 30_000],
    ['0', 0],
    ['1s500ms', 1500],
    ['2m5ms', 120_005],
    ['0ms', 0],
  ];
  for (const [input, ms] of good) {
    assert.equal(parseDuration(input), ms, String(input));
    assert.equal(parseDuration(formatDuration(ms)), ms, `formatDuration(${ms}) reads back`);
  }
  assert.deepEqual([600_000, 5_400_000, 93_784_000, 1500, 0].map(formatDuration), [
    '10m',
    '1h30m',
    '1d2h3m4s',
    '1s500ms',
    '0s',
  ]);
  for (const bad of [
    '',
    '8 hours',
    '-1h',
    '1.5h',
    'h',
    '1h1h',
    '30m1h',
    '8H',
    ' 8h',
    '8h ',
    '1e3s',
    '99999999999999999999d',
    '5ms1s',
    '1msm',
    '30 ',
    '0x10',
    '-0',
    '1m s',
    '1.5ms',
    'ms',
    '1ms1ms',
    -1,
    1.5,
    NaN,
    Infinity,
  ]) {
    assert.equal(parseDuration(bad), undefined, String(bad));
  }
});

test('a minimal file gets every default', () => {
  const config = parseConfig(BASE, '/etc/signonce/signonce.yaml', env);
  assert.deepEqual(config, {
    publicUrl: 'http://auth.localhost:8080',
    listen: { host: '127.0.0.1', port: 8080 },
    store: 'sqlite:/etc/signonce/.signonce/signonce.db',
    secrets: { encryptionKeys: [KEY] },
    session: {
      cookieName: 'AppServiceAuthSession',
      lifetime: 8 * 3_600_000,
      cacheTtl: 1000,
      tokenRefreshExtensionHours: 72,
      idleTimeout: 0,
    },
    tokenStore: { keepOnLogout: false },
    housekeeping: { interval: 600_000 },
    audit: { retention: 90 * 86_400_000 },
    admin: { access: [], freshSignIn: 600_000 },
    passkeys: {},
    accounts: { linkByVerifiedEmail: [] },
    groups: { refreshAfter: 600_000, maxAge: 3_600_000 },
    externalIssuers: [],
    clients: [],
    providers: [],
    apps: [],
    trustedProxies: [],
    limits: { maxHeaderBytes: 16_384, headersTimeout: 10_000, requestTimeout: 60_000 },
    rateLimits: {
      signIn: { perAddress: { limit: 300, window: 60_000 } },
      refresh: {
        perAccount: { limit: 600, window: 60_000 },
        perAddress: { limit: 600, window: 60_000 },
        providerGrants: { limit: 6, window: 60_000 },
      },
    },
    metrics: { allowFrom: ['127.0.0.1', '::1'] },
    devMode: false,
    log: { level: 'info' },
  });
});

test('audit.retention: a day or longer; shorter, zero and non-durations are refused', () => {
  assert.deepEqual(parseConfig(`${BASE}audit: { retention: 1d }\n`, 'test.yaml', env).audit, { retention: 86_400_000 });
  assert.deepEqual(parseConfig(`${BASE}audit: { retention: 400d }\n`, 'test.yaml', env).audit, {
    retention: 400 * 86_400_000,
  });
  const tooShort = 'audit.retention: must be at least 1d: the audit log keeps events a day or longer';
  for (const retention of ['23h59m59s', '0', 'off'])
    assert.deepEqual(
      problems(`${BASE}audit: { retention: ${retention} }\n`),
      [
        retention === 'off'
          ? 'audit.retention: "off" is not a duration like 500ms, 90s, 30m, 8h, 2d or 1h30m'
          : tooShort,
      ],
      retention,
    );
});

test('session.idleTimeout: 0 (off, the default) or at least 5m; shorter and non-durations are refused', () => {
  const idleTimeout = (value: string) =>
    parseConfig(`${BASE}session: { idleTimeout: ${value} }\n`, 'test.yaml', env).session.idleTimeout;
  assert.deepEqual([idleTimeout('0'), idleTimeout('5m'), idleTimeout('8h')], [0, 300_000, 8 * 3_600_000]);
  const tooShort =
    'session.idleTimeout: must be 0 (off) or at least 5m: when a session was last used reaches the store at most once a minute per instance, so a shorter timeout could end a session in use on another instance';
  for (const value of ['4m59s', '1ms', '30s', 'off'])
    assert.deepEqual(
      problems(`${BASE}session: { idleTimeout: ${value} }\n`),
      [
        value === 'off'
          ? 'session.idleTimeout: "off" is not a duration like 500ms, 90s, 30m, 8h, 2d or 1h30m'
          : tooShort,
      ],
      value,
    );
});

test('admin: off without rules; rules as clients have them; freshSignIn between 1m and session.lifetime', () => {
  const admin = (text: string) => parseConfig(`${BASE}${text}\n`, 'test.yaml', env).admin;
  assert.deepEqual(admin('admin: {}'), { access: [], freshSignIn: 600_000 }, 'off by default');
  assert.deepEqual(admin('admin: { access: [] }'), { access: [], freshSignIn: 600_000 }, 'an empty list is off too');
  assert.deepEqual(
    admin('admin: { access: [{ allow: { groups: [ops] }, description: Operators }], freshSignIn: 1m }'),
    { access: [{ allow: { groups: ['ops'] }, description: 'Operators', private: false }], freshSignIn: 60_000 },
  );
  assert.equal(
    admin('session: { lifetime: 1h }\nadmin: { freshSignIn: 1h }').freshSignIn,
    3_600_000,
    'the lifetime itself',
  );
  const cases: Array<[string, string, string[]]> = [
    [
      'too short',
      'admin: { freshSignIn: 59s }',
      [
        'admin.freshSignIn: must be at least 1m: a shorter one would ask for a new sign-in between the pages of one admin task',
      ],
    ],
    [
      'not a duration',
      'admin: { freshSignIn: soon }',
      ['admin.freshSignIn: "soon" is not a duration like 500ms, 90s, 30m, 8h, 2d or 1h30m'],
    ],
    [
      'longer than the default lifetime',
      'admin: { freshSignIn: 9h }',
      [
        'admin.freshSignIn: must not be longer than session.lifetime ("8h"): no session is older, so it would ask nothing',
      ],
    ],
    [
      'the default longer than a short lifetime, with the console on',
      'session: { lifetime: 5m }\nadmin: { access: [{ allow: { authenticated: true } }] }',
      [
        'admin.freshSignIn: must not be longer than session.lifetime ("5m"): no session is older, so it would ask nothing',
      ],
    ],
    ['a short lifetime, the console off', 'session: { lifetime: 5m }\nadmin: {}', []],
    [
      'rules that name paths, methods, unknown providers, no effect',
      `providers: [{ id: gh, type: github, clientId: c }]
admin:
  access:
    - { paths: [/admin], methods: [POST], allow: { authenticated: true } }
    - { allow: { providers: [gh, nope] } }
    - { description: nothing }
  freshSignOn: 5m`,
      [
        'admin.access[0].methods: does not apply to the admin console (it decides who administers, on every admin page): remove methods',
        'admin.access[0].paths: does not apply to the admin console (it decides who administers, on every admin page): remove paths',
        'admin.access[1].allow.providers[1]: no provider "nope" (known: gh)',
        'admin.access[2]: needs exactly one of allow (who matches gets in) or deny (who matches is refused); split a rule with both in two',
        'admin.freshSignOn: unknown option (did you mean "freshSignIn"?)',
      ],
    ],
  ];
  for (const [name, text, expected] of cases) assert.deepEqual(problems(`${BASE}${text}\n`), expected, name);
});

test("examples/signonce.yaml (the contract's example configuration) passes `signonce check` as it is", async () => {
  // Kept in the repository (README links it), so a fresh clone tests it with nothing beside it.
  const file = fileURLToPath(new URL('../../examples/signonce.yaml', import.meta.url));
  const checked = await runCli(['check', '--config', file], {
    SIGNONCE_KEY: KEY,
    GOOGLE_SECRET: 'g',
    FACEBOOK_SECRET: 'f',
    TWITTER_SECRET: 't',
  });
  assert.equal(checked.code, 0, checked.stderr);
  const config = parseConfig(await readFile(file, 'utf8'), file, {
    ...env,
    GOOGLE_SECRET: 'g',
    FACEBOOK_SECRET: 'f',
    TWITTER_SECRET: 't',
  });
  assert.deepEqual(
    config.providers.map((p) => `${p.id}:${p.type}`),
    ['google:oidc', 'facebook:oauth2', 'twitter:oauth1', 'local:password'],
  );
  assert.deepEqual(config.apps[0]?.hosts, ['app1.localhost:8080']);
  assert.equal(config.session.lifetime, 8 * 3_600_000);
  assert.equal(config.session.tokenRefreshExtensionHours, 72);
});

test('every example configuration in README.md is valid', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 1);
  for (const block of blocks) {
    // Give every variable the block names a value of the right shape.
    const names = [...block.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!);
    const values = Object.fromEntries(names.map((name) => [name, /KEY/.test(name) ? generateKey() : 'value']));
    parseConfig(block, 'README.md', values);
  }
});

test('broken files: every problem, each with its exact message', () => {
  const cases: Array<[string, string, string[]]> = [
    [
      'missing environment variable',
      BASE.replace('SIGNONCE_KEY', 'UNSET_KEY'),
      ['secrets.encryptionKeys[0]: environment variable UNSET_KEY is not set'],
    ],
    [
      'short key',
      BASE.replace('${SIGNONCE_KEY}', 'AAAA'),
      ['secrets.encryptionKeys[0]: not a 256-bit key (decodes to 3 bytes; generate one with `signonce keys generate`)'],
    ],
    [
      'key not base64url',
      BASE.replace('${SIGNONCE_KEY}', `${KEY.slice(0, 42)}+`),
      ['secrets.encryptionKeys[0]: not a 256-bit key (not base64url; generate one with `signonce keys generate`)'],
    ],
    [
      'no keys',
      'publicUrl: http://auth.localhost\nsecrets: { encryptionKeys: [] }',
      ['secrets.encryptionKeys: needs at least one key (generate one with `signonce keys generate`)'],
    ],
    ['nothing required given', 'listen: { port: 8080 }', ['publicUrl: is required', 'secrets: is required']],
    [
      'upstream not http',
      `${BASE}apps:\n  - { id: a, hosts: [a.localhost], upstream: http://127.0.0.1:1 }\n  - { id: b, hosts: [b.localhost], upstream: "htp://x" }`,
      ['apps[1].upstream: "htp://x" is not an http(s) URL'],
    ],
    [
      'unknown default provider',
      `${BASE}devMode: true\nproviders: [{ id: google, type: google, clientId: c }, { id: dev, type: dev }]\napps: [{ id: a, hosts: [a.localhost], upstream: http://x, defaultProvider: gogle }]`,
      ['apps[0].defaultProvider: no provider "gogle" (known: google, dev)'],
    ],
    [
      'dev without devMode',
      `${BASE}providers: [{ id: dev, type: dev }]`,
      ['providers[0].type: "dev" trusts whatever is typed and is refused unless devMode: true'],
    ],
    [
      'duplicate ids and hosts',
      `${BASE}providers: [{ id: gh, type: github, clientId: a }, { id: gh, type: github, clientId: b }]
apps:
  - { id: a, hosts: [a.localhost:8080], upstream: http://x }
  - { id: a, hosts: [A.LOCALHOST:8080, auth.localhost:8080], upstream: http://x }`,
      [
        'apps[1].hosts[0]: "A.LOCALHOST:8080" is already a host of apps[0]; each host routes to one app',
        'apps[1].hosts[1]: "auth.localhost:8080" is the auth host (publicUrl); give the app a host of its own',
        'apps[1].id: "a" is already the id of apps[0]',
        'providers[1].id: "gh" is already the id of providers[0]',
      ],
    ],
    [
      'misspelt options',
      `${BASE}devMod: true\nsession: { cookiename: x }\nproviders: [{ id: g, type: google, clientId: c, clientSecrt: s }]`,
      [
        'devMod: unknown option (did you mean "devMode"?)',
        'providers[0].clientSecrt: unknown option (did you mean "clientSecret"?)',
        'session.cookiename: unknown option (did you mean "cookieName"?)',
      ],
    ],
    [
      'wrong types and values',
      `${BASE}listen: { port: "8080" }\ndevMode: "yes"\nsession: { lifetime: 8 hours }\nlog: { level: loud }`,
      [
        'devMode: expected true or false, got string "yes"',
        'listen.port: expected a number, got string "8080"',
        'log.level: "loud" is not one of: fatal, error, warn, info, debug, trace',
        'session.lifetime: "8 hours" is not a duration like 500ms, 90s, 30m, 8h, 2d or 1h30m',
      ],
    ],
    [
      'unknown provider type',
      `${BASE}providers: [{ id: x, type: gogle }, { id: y }]`,
      [
        'providers[0].type: "gogle" is not a provider type (known: oidc, oauth2, oauth1, password, dev, google, aad, microsoftaccount, apple, facebook, github, twitter)',
        'providers[1].type: is required (one of: oidc, oauth2, oauth1, password, dev, google, aad, microsoftaccount, apple, facebook, github, twitter)',
      ],
    ],
    [
      'store URL with a password is redacted',
      `${BASE}store: mysql://admin:hunter2@db/signonce`,
      [
        'store: "mysql://admin:***@db/signonce" is not a store URL (use sqlite:PATH or postgres://user:password@host:5432/db)',
      ],
    ],
    [
      'publicUrl with a path',
      BASE.replace('8080', '8080/auth'),
      [
        'publicUrl: "http://auth.localhost:8080/auth" is not an origin URL like https://auth.example.com (http or https, no path, query or credentials)',
      ],
    ],
    [
      'app details',
      `${BASE}apps: [{ id: App, hosts: ["bad host"], upstream: http://x, excludedPaths: [healthz], exposeRefreshTokens: true, allowedExternalRedirectUrls: ["not a url"] }]`,
      [
        'apps[0].allowedExternalRedirectUrls[0]: "not a url" is not an absolute URL (e.g. https://app.example/done or myapp://easyauth.callback)',
        'apps[0].excludedPaths[0]: "healthz" is not a path (it starts with "/")',
        'apps[0].exposeRefreshTokens: needs tokenStore: true (without the token store there are no tokens to expose)',
        'apps[0].hosts[0]: "bad host" is not a host or host:port (e.g. app1.example.com or app1.localhost:8080)',
        'apps[0].id: "App" is not an id (lower-case letters, digits, "-" and "_", at most 64; it appears in URLs and header names)',
      ],
    ],
    [
      'YAML syntax error',
      'publicUrl: [x\n',
      [
        'line 2:1: not valid YAML or JSON: Flow sequence in block collection must be sufficiently indented and end with a ]',
      ],
    ],
    ['duplicate key', 'publicUrl: a\npublicUrl: b\n', ['line 2:1: not valid YAML or JSON: Map keys must be unique']],
    ['empty file', '', ['(root): the file is empty; see "Configuration reference" in README.md']],
    ['a list, not a mapping', '- a\n', ['(root): expected a mapping of options (publicUrl: …, secrets: …)']],
    [
      'trusted proxies',
      `${BASE}trustedProxies: [10.0.0.0/8, 10.0.0.0/33, localhost, "fd00::/8"]`,
      [
        'trustedProxies[1]: "10.0.0.0/33" is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8)',
        'trustedProxies[2]: "localhost" is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8)',
      ],
    ],
    [
      'mfaAcrValues: acr values without spaces, at least one, only where an ID token can carry acr',
      `${BASE}providers: [{ id: a, type: oidc, issuer: https://idp.example, clientId: c, mfaAcrValues: ["two words", ""] }, { id: b, type: aad, clientId: c, mfaAcrValues: [] }, { id: c, type: github, clientId: c, mfaAcrValues: [mfa] }]`,
      [
        'providers[0].mfaAcrValues[0]: "two words" is not an acr value (printable ASCII without spaces, e.g. "http://schemas.openid.net/pape/policies/2007/06/multi-factor")',
        'providers[0].mfaAcrValues[1]: "" is not an acr value (printable ASCII without spaces, e.g. "http://schemas.openid.net/pape/policies/2007/06/multi-factor")',
        'providers[1].mfaAcrValues: lists no value: leave mfaAcrValues out, or name the acr values that mean a second factor at this provider',
        'providers[2].mfaAcrValues: unknown option (options here: authorizationUrl, refresh, tokenUrl, userinfoUrl, clientId, clientSecret, scopes, claims, authorizationParams, orgsUrl, teamsUrl, id, displayName, trustEmail, type)',
      ],
    ],
    [
      'passkeys.rpId: not a parent domain of the auth host',
      `${BASE}passkeys: { rpId: example.org }`,
      [
        'passkeys.rpId: "example.org" is neither the auth host\'s name (auth.localhost) nor a parent domain of it: a browser lets the auth host\'s pages use only those',
      ],
    ],
    [
      'upstream timeout',
      `${BASE}apps: [{ id: a, hosts: [a.localhost], upstream: http://x, upstreamTimeout: 30 seconds }]`,
      ['apps[0].upstreamTimeout: "30 seconds" is not a duration like 500ms, 90s, 30m, 8h, 2d or 1h30m'],
    ],
    [
      'apple without its key, or with a static secret',
      `${BASE}providers: [{ id: a, type: apple, clientId: c }, { id: b, type: apple, clientId: c, teamId: T, keyId: K, privateKey: "-----BEGIN PRIVATE KEY-----\\nSECRETBYTES\\n-----END PRIVATE KEY-----", clientSecret: s }]`,
      [
        'providers[0].keyId: is required',
        'providers[0].privateKey: is required',
        'providers[0].teamId: is required',
        'providers[1].clientSecret: is not used by apple: SignOnce makes the client secret from teamId, keyId and privateKey',
        'providers[1].privateKey: is not an EC P-256 private key in PEM form (the AuthKey_….p8 file from Apple, "-----BEGIN PRIVATE KEY-----…"); put it in a variable: privateKey: "${APPLE_PRIVATE_KEY}"',
      ],
    ],
    [
      'a credential of the wrong type is not shown',
      `${BASE}providers: [{ id: g, type: google, clientId: c, clientSecret: 12345678 }]`,
      ['providers[0].clientSecret: expected a string, got a number (not shown)'],
    ],
    [
      'trust in an app that does not exist',
      `${BASE}apps: [{ id: a, hosts: [a.localhost], upstream: http://x, acceptTokensFrom: [a, b, "Bad Id"] }]`,
      [
        'apps[0].acceptTokensFrom[1]: no app "b" (known: a)',
        'apps[0].acceptTokensFrom[2]: "Bad Id" is not an id (lower-case letters, digits, "-" and "_", at most 64; it appears in URLs and header names)',
      ],
    ],
    [
      'a legacy HS256 secret too short to be a key',
      `${BASE}apps: [{ id: a, hosts: [a.localhost], upstream: http://x, tokenSigning: { alg: HS256, secret: short } }, { id: b, hosts: [b.localhost], upstream: http://x, tokenSigning: { alg: HS512, secret: "${'x'.repeat(40)}" } }]`,
      [
        'apps[0].tokenSigning.secret: must be at least 32 bytes (RFC 7518 section 3.2: an HS256 key as long as its hash); generate one with `signonce keys generate`',
        'apps[1].tokenSigning.alg: "HS512" is not one of: HS256',
      ],
    ],
    [
      'resources an app cannot have',
      `${BASE}devMode: true\nproviders: [{ id: idp, type: oidc, issuer: http://127.0.0.1:1, clientId: c }, { id: dev, type: dev }]
apps: [{ id: a, hosts: [a.localhost], upstream: http://x, resources: [
  { alias: api, provider: idp, resource: "https://api.example/#frag" }, { alias: api, provider: idp, scopes: [read] },
  { alias: Graph.API, provider: nobody, scopes: [x] }, { alias: d, provider: dev, scopes: [x] }, { alias: none, provider: idp } ] }]`,
      [
        'apps[0].resources[0].resource: "https://api.example/#frag" is not a resource indicator (RFC 8707 section 2: an absolute URI without a fragment, e.g. https://api.example.com)',
        'apps[0].resources[1].alias: "api" is already the alias of resources[0]',
        'apps[0].resources[2].alias: "Graph.API" is not an alias (lower-case letters, digits and "-", at most 32; it names the header X-SIGNONCE-TOKEN-{ALIAS})',
        'apps[0].resources[2].provider: no provider "nobody" (known: idp, dev)',
        'apps[0].resources[3].provider: "dev" is a dev provider: its tokens cannot be refreshed, so it gets no tokens for other resources (use an oidc or oauth2 provider)',
        'apps[0].resources[4]: needs a resource (an RFC 8707 indicator), scopes, or both: they say which token to get',
      ],
    ],
    [
      'linking by e-mail with providers that cannot vouch',
      `${BASE}devMode: true\nproviders: [{ id: dev, type: dev }]\naccounts: { linkByVerifiedEmail: [dev, nobody, "Bad Id"] }`,
      [
        'accounts.linkByVerifiedEmail[0]: "dev" trusts whatever is typed: an e-mail it reports proves nothing',
        'accounts.linkByVerifiedEmail[1]: no provider "nobody" (known: dev)',
        'accounts.linkByVerifiedEmail[2]: "Bad Id" is not an id (lower-case letters, digits, "-" and "_", at most 64; it appears in URLs and header names)',
      ],
    ],
    [
      'external issuers that could not be checked safely',
      `${BASE}externalIssuers: [
  { id: mail, issuer: https://mail.example, audience: a },
  { id: mail, issuer: https://mail.example, jwksUrl: https://mail.example/keys, metadataUrl: https://mail.example/meta, audience: a },
  { id: hs, issuer: https://hs.example, jwksUrl: https://hs.example/keys, audience: a, algorithms: [HS256, none] } ]`,
      [
        "externalIssuers[0]: needs exactly one of jwksUrl (the issuer's JWK Set) or metadataUrl (its OpenID/OAuth metadata, which names the JWK Set)",
        "externalIssuers[1]: needs exactly one of jwksUrl (the issuer's JWK Set) or metadataUrl (its OpenID/OAuth metadata, which names the JWK Set)",
        'externalIssuers[1].id: "mail" is already the id of externalIssuers[0]',
        'externalIssuers[2].algorithms[0]: "HS256" is not one of: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA',
        'externalIssuers[2].algorithms[1]: "none" is not one of: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA',
      ],
    ],
    [
      'OpenID clients that could not be trusted',
      `${BASE}clients: [
  { id: wiki, redirectUris: ["https://wiki.example.com/*"] },
  { id: wiki, public: true, secret: "${'s'.repeat(40)}", redirectUris: ["http://wiki.example.com/cb"], scopes: [openid, admin] },
  { id: spa, secret: short, redirectUris: [] } ]`,
      [
        'clients[0]: needs exactly one of secret, jwks or jwksUrl (private_key_jwt: its public keys), or public: true for a client that cannot keep a secret (a browser or native app; PKCE protects its codes)',
        'clients[0].redirectUris[0]: "https://wiki.example.com/*" has a wildcard: redirect URIs are matched exactly (RFC 9700 section 4.1.3)',
        'clients[1].id: "wiki" is already the id of clients[0]',
        'clients[1].redirectUris[0]: "http://wiki.example.com/cb" is plain http to a host that is not loopback: use https',
        'clients[1].scopes[1]: "admin" is not one of: openid, profile, email, offline_access, provider_tokens',
        'clients[2].redirectUris: needs at least one redirect URI (or grants without authorization_code for a service client)',
        'clients[2].secret: must be at least 32 bytes; generate one with `signonce keys generate`',
      ],
    ],
    [
      'service clients that could not get tokens for what they name',
      `${BASE}apps:
  - { id: orders, hosts: [orders.localhost], upstream: http://x, scopes: [orders.read, "a b", 'say"hi'] }
clients:
  - { id: svc, secret: "${'s'.repeat(40)}", grants: [client_credentials, password] }
  - { id: spa, public: true, redirectUris: ["http://spa.localhost/cb"], grants: [authorization_code, token_exchange], resources: [orders] }
  - { id: keyed, secret: "${'s'.repeat(40)}", jwks: { keys: [{ kty: EC }] }, grants: [client_credentials], resources: [orders, nope] }
  - { id: leaky, jwks: { keys: [{ kty: OKP, crv: Ed25519, x: abc, d: secret }] }, grants: [client_credentials], resources: [orders] }
  - { id: none, jwksUrl: https://keys.example/jwks, grants: [], redirectUris: [] }
  - { id: obo, secret: "${'s'.repeat(40)}", grants: [token_exchange] }`,
      [
        'apps[0].scopes[1]: "a b" is not a scope name (printable ASCII without spaces, quotes or backslashes, e.g. orders.read)',
        'apps[0].scopes[2]: "say\\"hi" is not a scope name (printable ASCII without spaces, quotes or backslashes, e.g. orders.read)',
        'clients[0].grants[1]: "password" is not one of: authorization_code, client_credentials, token_exchange',
        "clients[0].resources: is empty, but the client's grants (client_credentials) give access tokens only for the apps listed here: list their ids",
        'clients[1].grants: client_credentials and token_exchange need a client that proves itself (a secret, jwks or jwksUrl), never a public one',
        'clients[2]: needs exactly one of secret, jwks or jwksUrl (private_key_jwt: its public keys), or public: true for a client that cannot keep a secret (a browser or native app; PKCE protects its codes)',
        'clients[2].resources[1]: no app "nope" (known: orders)',
        'clients[3].jwks.keys[0]: is a private key: give only the public part (without "d"); the client keeps the private key',
        'clients[4].grants: names no grant: list some of authorization_code, client_credentials, token_exchange, or remove it',
        "clients[5].resources: is empty, but the client's grants (token_exchange) give access tokens only for the apps listed here: list their ids",
      ],
    ],
    [
      'access rules that could not mean what they say',
      `${BASE}apps:
  - { id: a, hosts: [a.localhost], upstream: http://x, access: [] }
  - id: b
    hosts: [b.localhost]
    upstream: http://x
    access:
      - {}
      - { allow: { emails: [a@example.com] }, deny: { emails: [b@example.com] } }
      - { allow: {} }
      - { allow: { group: [a], rolls: [b] } }
      - { allow: { groups: [], all: [], authenticated: false } }
      - { deny: { emails: ["a@b@example.com", "ann@example.com.", "ann@exämple.com", ann] } }
      - { deny: { emailDomains: [example.com., "@example.com", "*example.com", "a..b", "*.*.com", "exämple.com"] } }
      - { allow: { claims: { oid: { id: 1 }, tid: [], dept: [eng, { x: 1 }] } } }
      - { allow: { claims: {} } }
      - { paths: [/a*, /b/*/c, "/c?x=1", d, "/e#f"], methods: [G T, ""], allow: { authenticated: true } }
      - { allow: { all: [ {}, { groupz: [x] } ] } }
      - { deny: { authenticated: true }, require: { mfa: true } }
      - { allow: { authenticated: true }, require: {} }
      - { allow: { authenticated: true }, require: { maxAge: 30s, mfa: yes } }
      - { allow: { authenticated: true }, require: { acr: x } }`,
      [
        'apps[0].access: lets no one in: remove it to let every signed-in user in, or add rules',
        'apps[1].access[0]: needs exactly one of allow (who matches gets in) or deny (who matches is refused); split a rule with both in two',
        'apps[1].access[1]: needs exactly one of allow (who matches gets in) or deny (who matches is refused); split a rule with both in two',
        'apps[1].access[2].allow: names no condition: give at least one of emails, emailDomains, groups, roles, providers, accounts, claims, applications, authenticated, all',
        'apps[1].access[3].allow: names no condition: give at least one of emails, emailDomains, groups, roles, providers, accounts, claims, applications, authenticated, all',
        'apps[1].access[3].allow.group: unknown option (did you mean "groups"?)',
        'apps[1].access[3].allow.rolls: unknown option (did you mean "roles"?)',
        'apps[1].access[4].allow.all: is empty: it matches no one (list values, or remove it)',
        'apps[1].access[4].allow.authenticated: can only be true (every signed-in user); to let no one in, remove the rule',
        'apps[1].access[4].allow.groups: is empty: it matches no one (list values, or remove it)',
        'apps[1].access[5].deny.emails[0]: "a@b@example.com" is not an e-mail address (one "@", then an ASCII domain: write an internationalised domain in its xn-- form)',
        'apps[1].access[5].deny.emails[1]: "ann@example.com." is not an e-mail address (one "@", then an ASCII domain: write an internationalised domain in its xn-- form)',
        'apps[1].access[5].deny.emails[2]: "ann@exämple.com" is not an e-mail address (one "@", then an ASCII domain: write an internationalised domain in its xn-- form)',
        'apps[1].access[5].deny.emails[3]: "ann" is not an e-mail address (one "@", then an ASCII domain: write an internationalised domain in its xn-- form)',
        ...['example.com.', '@example.com', '*example.com', 'a..b', '*.*.com', 'exämple.com'].map(
          (domain, i) =>
            `apps[1].access[6].deny.emailDomains[${i}]: ${JSON.stringify(domain)} is not a domain (example.com, or *.example.com for its subdomains only; ASCII, no "@", no trailing dot)`,
        ),
        'apps[1].access[7].allow.claims.dept: ["eng",{"x":1}] is not a claim value: a string, number or boolean, or a non-empty list of them',
        'apps[1].access[7].allow.claims.oid: {"id":1} is not a claim value: a string, number or boolean, or a non-empty list of them',
        'apps[1].access[7].allow.claims.tid: [] is not a claim value: a string, number or boolean, or a non-empty list of them',
        'apps[1].access[8].allow.claims: names no claim (give { name: value } or remove it)',
        'apps[1].access[9].methods[0]: "G T" is not an HTTP method (e.g. GET, POST, DELETE)',
        'apps[1].access[9].methods[1]: "" is not an HTTP method (e.g. GET, POST, DELETE)',
        ...['/a*', '/b/*/c', '/c?x=1', 'd', '/e#f'].map(
          (path, i) =>
            `apps[1].access[9].paths[${i}]: ${JSON.stringify(path)} is not a path pattern: /path (that path) or /path/* (it and everything below it), no other "*", no query`,
        ),
        'apps[1].access[10].allow.all[0]: names no condition: give at least one of emails, emailDomains, groups, roles, providers, accounts, claims, applications, authenticated, all',
        'apps[1].access[10].allow.all[1]: names no condition: give at least one of emails, emailDomains, groups, roles, providers, accounts, claims, applications, authenticated, all',
        'apps[1].access[10].allow.all[1].groupz: unknown option (did you mean "groups"?)',
        'apps[1].access[11].require: applies to allow rules only: it says what the sign-in of a user the rule lets in must have proved',
        'apps[1].access[12].require: names no requirement: give mfa: true, maxAge, or both',
        'apps[1].access[13].require.maxAge: must be at least 1m: a shorter one would ask for a new sign-in at every page',
        'apps[1].access[13].require.mfa: expected true or false, got string "yes"',
        'apps[1].access[14].require: names no requirement: give mfa: true, maxAge, or both',
        'apps[1].access[14].require.acr: unknown option (options here: mfa, maxAge)',
      ],
    ],
    [
      'access rules between fields, and their other spellings',
      `${BASE}devMode: true
providers: [{ id: dev, type: dev, trustEmail: true }, { id: gh, type: github, clientId: c }, { id: pw, type: password, trustEmail: true }]
apps:
  - { id: a, hosts: [a.localhost], upstream: http://x, providers: [gh, nobody], defaultProvider: dev,
      access: [{ allow: { providers: [gh, nope], all: [{ providers: [x] }] } }],
      defaultAuthorizationPolicy: { allowedPrincipals: { groups: [g] } } }
  - { id: b, hosts: [b.localhost], upstream: http://x, providers: [],
      defaultAuthorizationPolicy: { allowedPrincipals: {}, allowedApplications: [x] } }
clients:
  - { id: c, public: true, redirectUris: ["http://localhost/cb"], access: [{ paths: [/x], methods: [GET], deny: { providers: [zz] } }] }
  - { id: d, public: true, redirectUris: ["http://localhost/cb"], access: [] }
groups: { refreshAfter: 2h }`,
      [
        'apps[0]: has both access and defaultAuthorizationPolicy: keep one (access says the same as allow: { groups: [...], claims: { oid: [...] } })',
        'apps[0].access[0].allow.all[0].providers[0]: no provider "x" (known: dev, gh, pw)',
        'apps[0].access[0].allow.providers[1]: no provider "nope" (known: dev, gh, pw)',
        'apps[0].defaultProvider: "dev" is not one of the app\'s providers (gh, nobody): add it there, or choose one of them',
        'apps[0].providers[1]: no provider "nobody" (known: dev, gh, pw)',
        'apps[1].defaultAuthorizationPolicy.allowedApplications: unknown option (options here: allowedPrincipals)',
        'apps[1].defaultAuthorizationPolicy.allowedPrincipals: lets no one in: list groups, identities or both (object ids), or remove defaultAuthorizationPolicy',
        'apps[1].providers: offers no provider: remove it to offer every provider, or list some',
        'clients[0].access[0].deny.providers[0]: no provider "zz" (known: dev, gh, pw)',
        'clients[0].access[0].methods: does not apply to an OpenID client (it asks for a sign-in, not for a path): remove methods',
        'clients[0].access[0].paths: does not apply to an OpenID client (it asks for a sign-in, not for a path): remove paths',
        'clients[1].access: lets no one in: remove it to let every signed-in user in, or add rules',
        'groups.refreshAfter: must not be longer than maxAge (memberships older than maxAge are not used)',
        'providers[0].trustEmail: "dev" trusts whatever is typed: an e-mail it reports proves nothing',
        'providers[2].trustEmail: password accounts carry no e-mail claim: remove trustEmail',
      ],
    ],
    [
      'session cache too long',
      `${BASE}session: { cacheTtl: 2m }`,
      [
        'session.cacheTtl: must be at most 60s: the longest an instance may serve a change it was not told of (several processes on one SQLite file; PostgreSQL tells at once)',
      ],
    ],
    [
      'invalid variable reference',
      `${BASE}log: { level: "\${not-a-name}" }`,
      ['log.level: "${not-a-name}" is not a valid environment variable reference (write $${…} for a literal)'],
    ],
  ];
  for (const [name, text, expected] of cases) assert.deepEqual(problems(text), expected, name);
});

test('access: the contract example, Easy Auth v2 spelling, provider options and groups, as parsed', () => {
  const config = parseConfig(
    `${BASE}providers:
  - { id: aad, type: aad, clientId: c, graphUrl: "https://graph.microsoft.com", trustEmail: true }
  - { id: gh, type: github, clientId: c, orgsUrl: "https://api.github.com/user/orgs", teamsUrl: "https://api.github.com/user/teams" }
apps:
  - id: wiki
    hosts: [wiki.localhost]
    upstream: http://x
    providers: [gh]
    access:
      - allow: { emailDomains: [example.com, "*.example.org"] }
      - paths: [/admin/*]
        methods: [POST, put, DELETE]
        allow: { groups: [wiki-admins] }
        description: wiki administrators
      - deny: { emails: [intern@example.com], claims: { level: [1, true, x], dept: ops } }
        private: true
  - id: portal
    hosts: [portal.localhost]
    upstream: http://x
    defaultAuthorizationPolicy: { allowedPrincipals: { groups: [G1], identities: [U1] } }
clients:
  - { id: grafana, public: true, redirectUris: ["http://localhost/cb"], access: [ { allow: { groups: [ops] } } ] }
groups: { refreshAfter: 5m, maxAge: 2h }`,
    'x.yaml',
    env,
  );
  assert.deepEqual(config.apps[0]?.access, [
    { allow: { emailDomains: ['example.com', '*.example.org'] }, private: false },
    {
      paths: ['/admin/*'],
      methods: ['POST', 'put', 'DELETE'],
      allow: { groups: ['wiki-admins'] },
      description: 'wiki administrators',
      private: false,
    },
    // Claim values are text: numbers and booleans as their JSON text.
    { deny: { emails: ['intern@example.com'], claims: { level: ['1', 'true', 'x'], dept: ['ops'] } }, private: true },
  ]);
  assert.deepEqual(config.apps[0]?.providers, ['gh']);
  assert.equal(config.apps[1]?.providers, undefined);
  assert.equal(config.apps[1]?.access, undefined);
  assert.deepEqual(config.apps[1]?.defaultAuthorizationPolicy, {
    allowedPrincipals: { groups: ['G1'], identities: ['U1'] },
  });
  assert.deepEqual(config.clients[0]?.access, [{ allow: { groups: ['ops'] }, private: false }]);
  assert.deepEqual(config.groups, { refreshAfter: 300_000, maxAge: 7_200_000 });
  assert.deepEqual(
    config.providers.map((p) => [p.trustEmail, 'graphUrl' in p ? p.graphUrl : undefined]),
    [
      [true, 'https://graph.microsoft.com'],
      [false, undefined],
    ],
  );
  const github = config.providers[1]!;
  assert.ok(github.type === 'github');
  assert.deepEqual(
    [github.orgsUrl, github.teamsUrl],
    ['https://api.github.com/user/orgs', 'https://api.github.com/user/teams'],
  );
});

test('environment: values substituted after parsing, $${X} escapes, YAML-looking values stay strings', () => {
  const text = `${BASE}providers: [{ id: g, type: google, clientId: "\${ID}", clientSecret: "$\${LITERAL}" }]\nlisten: { host: "\${HOST}" }`;
  const config = parseConfig(text, 'x.yaml', { ...env, ID: 'id: injected\nother: [1]', HOST: '0.0.0.0' });
  assert.deepEqual(config.providers[0], {
    id: 'g',
    type: 'google',
    clientId: 'id: injected\nother: [1]',
    clientSecret: '${LITERAL}',
    trustEmail: false,
    refresh: { ahead: 300_000, onRefreshFailure: 'proceed' },
  });
  assert.equal(config.listen.host, '0.0.0.0');
});

test('JSON is accepted as well as YAML', () => {
  const config = parseConfig(
    JSON.stringify({
      publicUrl: 'https://auth.example.com/',
      secrets: { encryptionKeys: [KEY] },
      store: 'postgres://u:p@db:5432/s',
    }),
    'x.json',
    {},
  );
  assert.equal(config.publicUrl, 'https://auth.example.com');
  assert.equal(config.store, 'postgres://u:p@db:5432/s');
});

test('config path: --config, else $SIGNONCE_CONFIG, else ./signonce.yaml; relative sqlite paths follow the file', async () => {
  assert.equal(resolveConfigPath('a.yaml', { SIGNONCE_CONFIG: 'b.yaml' }), 'a.yaml');
  assert.equal(resolveConfigPath(undefined, { SIGNONCE_CONFIG: 'b.yaml' }), 'b.yaml');
  assert.equal(resolveConfigPath(undefined, {}), 'signonce.yaml');
  const { dir, remove } = await tempDir();
  try {
    await writeFile(join(dir, 'signonce.yaml'), `${BASE}store: sqlite:data/x.db\n`);
    assert.equal((await loadConfig(join(dir, 'signonce.yaml'), env)).store, `sqlite:${join(dir, 'data', 'x.db')}`);
    await assert.rejects(
      loadConfig(join(dir, 'missing.yaml'), env),
      /missing\.yaml: 1 problem\n {2}\(root\): no such file/,
    );
  } finally {
    await remove();
  }
});

test('signonce check: exit 0 with a summary on a good file, exit 2 with every problem on a bad one', async () => {
  const { dir, remove } = await tempDir();
  try {
    const good = join(dir, 'good.yaml');
    const bad = join(dir, 'bad.yaml');
    await writeFile(good, `${BASE}devMode: true\nproviders: [{ id: dev, type: dev }]\n`);
    await writeFile(bad, 'publicUrl: ftp://x\nsecrets: { encryptionKeys: [short] }\nextra: 1\n');
    const ok = await runCli(['check', '--config', good], env);
    assert.equal(ok.code, 0);
    assert.equal(ok.stdout, `${good}: ok (1 providers, 0 apps)\nadmin console: off (admin.access lists no rules)\n`);
    const failed = await runCli(['check'], { ...env, SIGNONCE_CONFIG: bad });
    assert.equal(failed.code, 2);
    assert.equal(
      failed.stderr,
      [
        `${bad}: 3 problems`,
        '  extra: unknown option (options here: publicUrl, listen, store, secrets, session, tokenStore, housekeeping, audit, admin, passkeys, accounts, groups, providers, apps, externalIssuers, clients, trustedProxies, limits, rateLimits, metrics, devMode, log)',
        '  publicUrl: "ftp://x" is not an origin URL like https://auth.example.com (http or https, no path, query or credentials)',
        '  secrets.encryptionKeys[0]: not a 256-bit key (decodes to 3 bytes; generate one with `signonce keys generate`)',
        '',
      ].join('\n'),
    );
    assert.equal((await runCli(['check', '--config'])).code, 2, 'a flag without its value is a usage error');
  } finally {
    await remove();
  }
});

test('a __Host- or __Secure- session cookie name needs an https publicUrl', () => {
  for (const [publicUrl, cookieName, accepted] of [
    ['http://auth.localhost:8080', '__Host-AppServiceAuthSession', false],
    ['http://auth.localhost:8080', '__secure-x', false],
    ['https://auth.example.com', '__Host-AppServiceAuthSession', true],
    ['http://auth.localhost:8080', 'AppServiceAuthSession', true],
  ] as const) {
    const yaml = `${BASE.replace('http://auth.localhost:8080', publicUrl)}\nsession: { cookieName: ${cookieName} }\n`;
    if (accepted) assert.equal(parseConfig(yaml, '/etc/signonce/signonce.yaml', env).session.cookieName, cookieName);
    else
      assert.throws(
        () => parseConfig(yaml, '/etc/signonce/signonce.yaml', env),
        /session\.cookieName: .*needs an https publicUrl/,
      );
  }
});

test('acceptProviderTokens: an OpenID Connect provider of this config, once; audiences and applications not empty', () => {
  const app = (entries: string) =>
    `${BASE}providers:
  - { id: aad, type: aad, clientId: c, issuer: "https://login.microsoftonline.com/t/v2.0" }
  - { id: gh, type: github, clientId: c }
apps:
  - id: orders
    hosts: [orders.localhost]
    upstream: http://127.0.0.1:3000
    acceptProviderTokens: ${entries}
    access: [{ allow: { applications: [] } }]
`;
  assert.deepEqual(
    problems(
      app(
        '[{ provider: aad, audiences: [api://orders] }, { provider: aad, audiences: [x] }, { provider: gh, audiences: [x] }, { provider: nope, audiences: [] , allowedApplications: [] }]',
      ),
    ),
    [
      'apps[0].acceptProviderTokens[1].provider: "aad" is already listed at acceptProviderTokens[0]: put its audiences and applications there',
      'apps[0].acceptProviderTokens[2].provider: "gh" is a github provider, whose access tokens SignOnce cannot verify: name an OpenID Connect provider (type oidc, aad, microsoftaccount or google; known: aad)',
      'apps[0].acceptProviderTokens[3].allowedApplications: is empty: it lets no application in (list client ids, or remove it to let any in)',
      "apps[0].acceptProviderTokens[3].audiences: is empty: list the audiences (aud) of the provider's access tokens for this app, e.g. [api://orders]",
      'apps[0].acceptProviderTokens[3].provider: no provider "nope": name an OpenID Connect provider (type oidc, aad, microsoftaccount or google; known: aad)',
      'apps[0].access[0].allow.applications: is empty: it matches no one (list values, or remove it)',
    ],
  );
  const parsed = parseConfig(
    app('[{ provider: aad, audiences: [api://orders], allowedApplications: [spa] }]').replace(
      'applications: []',
      'applications: [spa]',
    ),
    'test.yaml',
    env,
  );
  assert.deepEqual(parsed.apps[0]!.acceptProviderTokens, [
    { provider: 'aad', audiences: ['api://orders'], allowedApplications: ['spa'] },
  ]);
  assert.deepEqual(
    parseConfig(`${BASE}apps: [{ id: a, hosts: [a.localhost], upstream: "http://127.0.0.1:1" }]`, 'test.yaml', env)
      .apps[0]!.acceptProviderTokens,
    [],
  );
});
