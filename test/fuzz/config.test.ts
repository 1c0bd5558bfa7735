// Properties of the configuration loader (parseConfig, loadConfig):
// - whatever the text (any string, any YAML or JSON document, a valid file with any value at any
//   option path), it returns a Config or throws a ConfigError listing at least one problem: never
//   another error;
// - a Config it returns holds what the documentation promises, checked here independently of the
//   schema (origins, ports, 256-bit keys, ids, hosts, durations, redirect URIs, networks, …);
// - a problem message never shows a secret's value;
// - `${NAME}` takes exactly the variable's value (once: values are not substituted again, and
//   cannot add YAML structure), `$${…}` is a literal, and a variable that is not set, or a name that
//   is not one, is a problem at that option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { isAbsolute, join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError, loadConfig, parseConfig, type Config } from '../../src/config/index.ts';
import { generateKey } from '../../src/crypto/keyring.ts';
import { tempDir } from '../support/tmp.ts';
import { Tally, anyString, params, soup } from './support.ts';

const KEY = generateKey();
const APPLE_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();

/** A valid configuration using every option (the paths below are its paths). */
const BASE = {
  publicUrl: 'https://auth.example.com',
  listen: { host: '127.0.0.1', port: 8080 },
  store: 'sqlite:./data/signonce.db',
  secrets: { encryptionKeys: [KEY] },
  session: { cookieName: 'AppServiceAuthSession', lifetime: '8h', cacheTtl: '1s', tokenRefreshExtensionHours: 72 },
  tokenStore: { keepOnLogout: false },
  housekeeping: { interval: '10m' },
  accounts: { linkByVerifiedEmail: ['google'] },
  groups: { refreshAfter: '10m', maxAge: '1h' },
  providers: [
    { id: 'google', type: 'google', clientId: 'c', clientSecret: 's', displayName: 'Google', trustEmail: true },
    {
      id: 'idp',
      type: 'oidc',
      issuer: 'https://idp.example',
      clientId: 'c',
      scopes: ['openid'],
      authorizationParams: { prompt: 'login' },
      refresh: { ahead: '5m', onRefreshFailure: 'proceed' },
      graphUrl: 'https://graph.example',
    },
    {
      id: 'gh',
      type: 'oauth2',
      authorizationUrl: 'https://gh.example/a',
      tokenUrl: 'https://gh.example/t',
      userinfoUrl: 'https://gh.example/u',
      clientId: 'c',
      claims: { id: 'id', name: 'name', email: 'email' },
      orgsUrl: 'https://gh.example/user/orgs',
      teamsUrl: 'https://gh.example/user/teams',
    },
    {
      id: 'tw',
      type: 'oauth1',
      requestTokenUrl: 'https://tw.example/r',
      authorizeUrl: 'https://tw.example/a',
      accessTokenUrl: 'https://tw.example/t',
      consumerKey: 'k',
      consumerSecret: 's',
    },
    { id: 'apple', type: 'apple', clientId: 'c', teamId: 'T', keyId: 'K', privateKey: APPLE_KEY },
    { id: 'local', type: 'password', allowRegistration: false, minLength: 12 },
    { id: 'dev', type: 'dev' },
  ],
  apps: [
    {
      id: 'app1',
      hosts: ['app1.example.com', 'app1.localhost:8080'],
      upstream: 'http://127.0.0.1:3001',
      unauthenticatedAction: 'RedirectToLoginPage',
      defaultProvider: 'google',
      excludedPaths: ['/healthz', '/public/*'],
      tokenStore: true,
      allowedExternalRedirectUrls: ['myapp://cb'],
      exposeRefreshTokens: false,
      upstreamTimeout: '30s',
      acceptTokensFrom: ['app1'],
      sso: true,
      providerLogout: false,
      resources: [
        { alias: 'graph', provider: 'idp', resource: 'https://graph.example', scopes: ['read'], inject: false },
      ],
      tokenSigning: { alg: 'HS256', secret: 'x'.repeat(32) },
      providers: ['google', 'gh'],
      access: [
        { allow: { emailDomains: ['example.com', '*.example.org'], emails: ['ann@example.net'] } },
        {
          paths: ['/admin/*', '/x'],
          methods: ['POST'],
          allow: {
            all: [
              { groups: ['admins'], roles: ['r'] },
              { providers: ['gh'], accounts: ['a1'], authenticated: true },
            ],
            claims: { oid: ['o1', 2, true], tid: 't' },
          },
          description: 'admins',
          private: false,
        },
        { deny: { emails: ['intern@example.com'] } },
      ],
    },
    {
      id: 'app2',
      hosts: ['app2.example.com'],
      upstream: 'http://127.0.0.1:3002',
      defaultAuthorizationPolicy: { allowedPrincipals: { groups: ['g1'], identities: ['u1'] } },
    },
  ],
  externalIssuers: [
    {
      id: 'mail',
      issuer: 'https://mail.example',
      jwksUrl: 'https://mail.example/keys',
      audience: 'a',
      subjectClaim: 'sub',
      algorithms: ['RS256'],
    },
  ],
  clients: [
    {
      id: 'wiki',
      secret: 's'.repeat(32),
      redirectUris: ['https://wiki.example.com/cb'],
      postLogoutRedirectUris: ['http://localhost/bye'],
      backchannelLogoutUri: 'https://wiki.example.com/bc',
      scopes: ['openid'],
      subjectType: 'public',
      firstParty: true,
      access: [{ allow: { groups: ['ops'] }, description: 'operators', private: true }],
    },
  ],
  trustedProxies: ['10.0.0.0/8', 'fd00::1'],
  devMode: true,
  log: { level: 'info' },
};

type Path = Array<string | number>;
/** Every option path of a value: each mapping key and list index, at any depth. */
function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [];
  const entries: Array<[string | number, unknown]> = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value);
  return entries.flatMap(([key, child]) => [[...prefix, key], ...pathsOf(child, [...prefix, key])]);
}
const PATHS = pathsOf(BASE);

/** A copy of `root` with `value` at `path` (DELETE removes it); unchanged when an earlier edit took the path away. */
function setAt(root: unknown, path: Path, value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object') return root;
    node = next as Record<string | number, unknown>;
  }
  if (value === DELETE) delete node[path.at(-1)!];
  else node[path.at(-1)!] = value;
  return copy;
}
const DELETE = Symbol('delete');

/** Parses, failing the property on anything but a Config or a ConfigError with problems. */
function parse(text: string, env: NodeJS.ProcessEnv = {}): Config | ConfigError {
  try {
    const config = parseConfig(text, '/etc/signonce/signonce.yaml', env);
    assertDocumented(config);
    return config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    assert.ok(error.problems.length > 0, 'a ConfigError names a problem');
    for (const p of error.problems)
      assert.ok(typeof p.path === 'string' && p.path !== '' && typeof p.message === 'string' && p.message !== '');
    return error;
  }
}

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const httpUrl = (v: unknown) =>
  typeof v === 'string' && URL.canParse(v) && ['http:', 'https:'].includes(new URL(v).protocol);
const duration = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const network = (v: string) => {
  const [address = '', prefix, extra] = v.split('/');
  return (
    isIP(address) !== 0 &&
    extra === undefined &&
    (prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (isIP(address) === 4 ? 32 : 128)))
  );
};
const redirectUri = (v: string) => {
  if (!URL.canParse(v) || /[*#]/.test(v)) return false;
  const url = new URL(v);
  if (url.username || url.password) return false;
  if (url.protocol === 'http:')
    return (
      url.hostname === 'localhost' ||
      url.hostname.endsWith('.localhost') ||
      url.hostname === '[::1]' ||
      /^127\./.test(url.hostname)
    );
  return url.protocol === 'https:' || /^[a-z][a-z0-9+-]*\.[a-z0-9+.-]*:$/.test(url.protocol);
};

/** Access rules as README promises them: never empty, one effect each, no empty condition or list. */
function assertAccessRules(
  rules: readonly Record<string, unknown>[] | undefined,
  providerIds: readonly string[],
): void {
  if (rules === undefined) return;
  assert.ok(rules.length > 0, 'access: [] is refused');
  const assertCondition = (condition: Record<string, unknown>): void => {
    const kinds = Object.entries(condition).filter(([, value]) => value !== undefined);
    assert.ok(kinds.length > 0, 'a condition names something');
    for (const [kind, value] of kinds) {
      if (kind === 'authenticated') assert.equal(value, true);
      else if (kind === 'claims')
        for (const values of Object.values(value as object))
          assert.ok((values as unknown[]).length > 0 && (values as unknown[]).every((v) => typeof v === 'string'));
      else {
        assert.ok(Array.isArray(value) && value.length > 0, `${kind} is a non-empty list`);
        if (kind === 'all') for (const part of value) assertCondition(part);
        if (kind === 'providers') for (const p of value) assert.ok(providerIds.includes(p));
      }
    }
  };
  for (const rule of rules) {
    assert.ok((rule.allow === undefined) !== (rule.deny === undefined), 'one of allow or deny');
    assertCondition((rule.allow ?? rule.deny) as Record<string, unknown>);
  }
}

/** What the README promises of a loaded configuration, checked without the schema. */
function assertDocumented(c: Config): void {
  assert.ok(
    httpUrl(c.publicUrl) && new URL(c.publicUrl).origin === c.publicUrl,
    `publicUrl ${c.publicUrl} is an origin`,
  );
  assert.ok(
    c.listen.host.trim() !== '' && Number.isInteger(c.listen.port) && c.listen.port >= 0 && c.listen.port <= 65535,
  );
  assert.ok(
    (c.store.startsWith('sqlite:') && isAbsolute(c.store.slice(7))) || /^postgres(ql)?:\/\//.test(c.store),
    c.store,
  );
  assert.ok(c.secrets.encryptionKeys.length > 0);
  for (const key of c.secrets.encryptionKeys)
    assert.ok(
      /^[A-Za-z0-9_-]{43}$/.test(key) && Buffer.from(key, 'base64url').toString('base64url') === key,
      'a 256-bit key',
    );
  assert.match(c.session.cookieName, /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/);
  assert.ok(
    duration(c.session.lifetime) &&
      duration(c.session.cacheTtl) &&
      c.session.cacheTtl <= 60_000 &&
      duration(c.housekeeping.interval),
  );
  assert.ok(typeof c.session.tokenRefreshExtensionHours === 'number' && c.session.tokenRefreshExtensionHours >= 0);
  const providerIds = c.providers.map((p) => p.id);
  assert.equal(new Set(providerIds).size, providerIds.length, 'provider ids are unique');
  for (const p of c.providers) {
    assert.match(p.id, ID);
    if (p.type === 'dev') assert.equal(c.devMode, true, 'dev only with devMode');
    for (const field of [
      'issuer',
      'authorizationUrl',
      'tokenUrl',
      'userinfoUrl',
      'requestTokenUrl',
      'authorizeUrl',
      'accessTokenUrl',
    ] as const) {
      const value = (p as Record<string, unknown>)[field];
      if (value !== undefined) assert.ok(httpUrl(value), `${p.id}.${field}`);
    }
  }
  for (const listed of c.accounts.linkByVerifiedEmail)
    assert.ok(c.providers.some((p) => p.id === listed && p.type !== 'dev'));
  const appIds = c.apps.map((a) => a.id);
  assert.equal(new Set(appIds).size, appIds.length, 'app ids are unique');
  const authHost = new URL(c.publicUrl).host;
  const hosts = c.apps.flatMap((a) => a.hosts);
  assert.equal(new Set(hosts).size, hosts.length, 'each host routes to one app');
  for (const a of c.apps) {
    assert.match(a.id, ID);
    assert.ok(a.hosts.length > 0 && duration(a.upstreamTimeout));
    // A proxy-mode app has somewhere to go; a forward-auth app's proxy is asked from a trusted address.
    if (a.mode === 'proxy') assert.ok(httpUrl(a.upstream), `${a.id}: proxy mode with an upstream`);
    else assert.ok(a.upstream === undefined || httpUrl(a.upstream), a.id);
    if (a.mode === 'forwardAuth') assert.ok(c.trustedProxies.length > 0, `${a.id}: forward-auth with trustedProxies`);
    for (const host of a.hosts)
      assert.ok(
        host === host.toLowerCase() && URL.canParse(`http://${host}/`) && !/[/?#@\s]/.test(host) && host !== authHost,
        host,
      );
    for (const path of a.excludedPaths) assert.ok(path.startsWith('/'));
    for (const url of a.allowedExternalRedirectUrls) assert.ok(URL.canParse(url));
    if (a.defaultProvider !== undefined) assert.ok(providerIds.includes(a.defaultProvider));
    for (const source of a.acceptTokensFrom) assert.ok(appIds.includes(source));
    if (a.exposeRefreshTokens) assert.ok(a.tokenStore, 'refresh tokens only with the token store');
    if (a.tokenSigning) assert.ok(a.tokenSigning.alg === 'HS256' && Buffer.byteLength(a.tokenSigning.secret) >= 32);
    for (const r of a.resources)
      assert.ok(/^[a-z0-9][a-z0-9-]{0,31}$/.test(r.alias) && (r.resource !== undefined || r.scopes.length > 0));
    for (const offered of a.providers ?? []) assert.ok(providerIds.includes(offered), `offered provider ${offered}`);
    assert.ok(a.access === undefined || a.defaultAuthorizationPolicy === undefined, 'one spelling of the policy');
    assertAccessRules(a.access, providerIds);
  }
  for (const client of c.clients) {
    for (const uri of [
      ...client.redirectUris,
      ...client.postLogoutRedirectUris,
      ...(client.backchannelLogoutUri ? [client.backchannelLogoutUri] : []),
    ]) {
      assert.ok(redirectUri(uri), `redirect URI ${uri}`);
    }
    assert.ok(client.redirectUris.length > 0 && client.public === (client.secret === undefined));
    assertAccessRules(client.access, providerIds);
    for (const rule of client.access ?? [])
      assert.ok(!('paths' in rule && rule.paths) && !('methods' in rule && rule.methods));
  }
  for (const e of c.externalIssuers)
    assert.ok(
      (e.jwksUrl === undefined) !== (e.metadataUrl === undefined) &&
        e.algorithms.length > 0 &&
        !e.algorithms.some((alg) => /^(HS|none)/i.test(alg)),
    );
  for (const entry of c.trustedProxies) assert.ok(network(entry), entry);
  assert.equal(typeof c.devMode, 'boolean');
}

// Values an option may be given: anything JSON or YAML can hold, and strings near the valid ones.
const valueArb = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    '',
    ' ',
    '0',
    '-1',
    '8h',
    '8 hours',
    '1.5h',
    '99999999999999999999d',
    'http://x',
    'https://a.example/',
    'ftp://x',
    '/',
    'a',
    'A',
    '*',
    'javascript:alert(1)',
    'http://evil.example/cb',
    'com.example.app:/cb',
    'localhost',
    '10.0.0.0/33',
    '::/0',
    'fe80::1%eth0',
    '__proto__',
    'HS512',
    'none',
    'dev',
    'google',
    'app1',
    'Return401',
    KEY.slice(1),
    `${KEY}=`,
    'x'.repeat(300),
  ),
  fc.constantFrom(
    0,
    -1,
    1.5,
    65536,
    1e308,
    -0,
    Number.MAX_SAFE_INTEGER + 2,
    true,
    false,
    null,
    [],
    {},
    { toString: {} },
    { valueOf: 1, toString: 1 },
  ),
  fc.constant(DELETE),
);
const serialise = (value: unknown, json: boolean) => (json ? JSON.stringify(value) : stringify(value));

test('parseConfig: a valid file with any values at any option paths gives a documented Config or a ConfigError', () => {
  const seen = new Tally();
  const edits = fc.array(fc.tuple(fc.constantFrom(...PATHS), valueArb), { minLength: 1, maxLength: 3 });
  fc.assert(
    fc.property(edits, fc.boolean(), (changes, json) => {
      const document = changes.reduce<unknown>((doc, [path, value]) => setAt(doc, path, value), BASE);
      seen.add(parse(serialise(document, json)) instanceof ConfigError ? 'refused' : 'accepted');
    }),
    params(400),
  );
  assert.ok(seen.get('accepted') > 0 && seen.get('refused') > 0, JSON.stringify([...seen.counts]));
  assert.ok(!(parse(serialise(BASE, false)) instanceof ConfigError), 'the base file is valid');
});

// What YAML documents are made of, for texts no serialiser would write: anchors and aliases, tags,
// flow and block collections, merge keys, directives, option names.
const YAML_PIECES = [
  'a',
  'publicUrl',
  'apps',
  'providers',
  'secrets',
  '__proto__',
  ':',
  ': ',
  ' ',
  '\n',
  '\n  ',
  '- ',
  '-',
  '{',
  '}',
  '[',
  ']',
  ',',
  '"',
  "'",
  '#',
  '|',
  '>',
  '&x ',
  '*x',
  '&y ',
  '*y',
  '<<: ',
  '!!binary ',
  '!!set ',
  '!!omap ',
  '!!map ',
  '!!str ',
  '!!int ',
  '!!float ',
  '!!timestamp ',
  '!custom ',
  '? ',
  '%YAML 1.1\n',
  '---\n',
  '...\n',
  '~',
  'null',
  'true',
  '0x10',
  '.inf',
  '1e9',
  '2026-01-01',
  '${A}',
  '$${A}',
  '\t',
  '\\',
  '\u0000',
  '\ufeff',
];

test('parseConfig: any text, YAML document or JSON value gives a Config or a ConfigError, never another error', () => {
  const texts = fc.oneof(
    anyString(200),
    soup(YAML_PIECES, 30),
    fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
    fc.jsonValue({ maxDepth: 4 }).map((value) => stringify(value)),
    fc
      .dictionary(fc.constantFrom(...Object.keys(BASE), 'extra', '__proto__'), fc.jsonValue({ maxDepth: 3 }))
      .map((value) => stringify(value)),
  );
  fc.assert(
    fc.property(texts, fc.dictionary(fc.constantFrom('A', 'B', 'toString'), anyString(10)), (text, env) => {
      parse(text, env);
    }),
    params(1000),
  );
});

test('parseConfig regressions found by the properties', () => {
  const base = stringify({ ...BASE, listen: { host: '${HOST}', port: 8080 } });
  // A variable named like an Object.prototype member is not set unless it is: it used to become
  // "function toString() { [native code] }" (or "[object Object]" for __proto__).
  for (const name of ['toString', '__proto__', 'constructor', 'hasOwnProperty']) {
    const error = parse(base.replace('${HOST}', `\${${name}}`), {});
    assert.ok(error instanceof ConfigError, name);
    assert.deepEqual(
      error.problems.map((p) => `${p.path}: ${p.message}`),
      [`listen.host: environment variable ${name} is not set`],
    );
  }
  // A provider type or id that JavaScript cannot turn into a string made the cross-field checks throw a TypeError.
  for (const field of ['type', 'id']) {
    const typed = parse(
      stringify({
        ...BASE,
        providers: [...BASE.providers.slice(0, 2), { ...BASE.providers[2], [field]: { toString: {} } }],
      }),
    );
    assert.ok(
      typed instanceof ConfigError && typed.problems.some((p) => p.path === `providers[2].${field}`),
      String(typed),
    );
  }
  // Aliases that expand past the yaml package's limit, and an alias inside its own anchor: these
  // threw a ReferenceError and a RangeError (a stack trace from `signonce check`, not exit 2).
  const bomb = `${stringify(BASE)}x: &a [a, a, a, a, a, a, a, a, a]\ny: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nz: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nw: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n`;
  for (const text of [bomb, 'a: &a [*a]\n']) {
    const error = parse(text);
    assert.ok(error instanceof ConfigError);
    assert.match(error.problems[0]!.message, /not valid YAML or JSON/);
  }
});

const SECRET_PATHS = PATHS.filter(
  (path) => /secret|privateKey/i.test(String(path.at(-1))) || (path[1] === 'encryptionKeys' && path.length === 3),
);

test("problem messages never show a secret's value, whatever it is", () => {
  const marker = fc.stringMatching(/^[0-9a-f]{16}$/).map((hex) => `S3cret${hex}`);
  const shaped = fc.tuple(marker, fc.constantFrom('string', 'list', 'mapping', 'number', 'url')).map(([m, shape]) => ({
    marker: shape === 'number' ? String(parseInt(m.slice(6, 15), 16)) : m,
    value:
      shape === 'list'
        ? [m]
        : shape === 'mapping'
          ? { value: m }
          : shape === 'number'
            ? parseInt(m.slice(6, 15), 16)
            : shape === 'url'
              ? `https://u:${m}@x`
              : m,
  }));
  fc.assert(
    fc.property(
      fc.constantFrom(...SECRET_PATHS),
      shaped,
      fc.constantFrom(...PATHS),
      valueArb,
      (path, { marker, value }, otherPath, other) => {
        // Another option broken too, so the secret is reported among other problems.
        const document = setAt(setAt(BASE, otherPath, other), path, value);
        const result = parse(stringify(document));
        if (result instanceof ConfigError)
          assert.ok(!result.message.includes(marker), `${path.join('.')} shown: ${result.message}`);
      },
    ),
    params(400),
  );
});

test("a store URL's password is never shown, even when the URL does not parse", () => {
  const password = fc
    .tuple(fc.stringMatching(/^[0-9a-f]{12}$/), fc.constantFrom('', '@', '/', ':', '%', ' ', '#', '?'))
    .map(([hex, c]) => `Pw${hex}${c}${hex}`);
  const broken = fc.constantFrom('', ':99999', ':5432', ' x', ':-1', '[', '%zz', '\\', '@x');
  fc.assert(
    fc.property(
      fc.constantFrom('postgres', 'postgresql', 'mysql', 'pg', 'POSTGRES'),
      password,
      broken,
      (scheme, pw, rest) => {
        const result = parse(stringify({ ...BASE, store: `${scheme}://admin:${pw}@db${rest}/signonce` }));
        if (result instanceof ConfigError) assert.ok(!result.message.includes(pw.slice(0, 14)), result.message);
      },
    ),
    params(300),
  );
  // As shrunk: a port out of range made the URL unparseable, and it was shown as it was.
  const result = parse(stringify({ ...BASE, store: 'postgres://admin:Hunter2Secret@db:99999/signonce' }));
  assert.ok(result instanceof ConfigError && !result.message.includes('Hunter2Secret'), String(result));
});

// Environment substitution: a value made of literal text, references to variables (set or not),
// escaped references and references that are not names; the oracle builds the expected value
// from those parts.
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const nameArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/),
  fc.constantFrom('toString', '__proto__', 'constructor', 'hasOwnProperty', 'valueOf', 'PATH', 'HOME'),
);
type Part = { kind: 'text' | 'ref' | 'escaped' | 'invalid'; text: string };
const partArb: fc.Arbitrary<Part> = fc.oneof(
  fc
    .string({
      unit: fc.constantFrom('a', 'Z', ' ', ':', '-', '\n', '#', '"', "'", '[', '&', '*', 'é', '{', '}'),
      minLength: 1,
      maxLength: 6,
    })
    .map((text) => ({ kind: 'text' as const, text })),
  nameArb.map((text) => ({ kind: 'ref' as const, text })),
  fc
    .string({ unit: fc.constantFrom('A', 'b', '_', '1', '-', ' ', '$', '{'), maxLength: 6 })
    .map((text) => ({ kind: 'escaped' as const, text })),
  fc
    .string({ unit: fc.constantFrom('A', '1', '-', ' ', '.', '$', '{', 'é'), maxLength: 6 })
    .filter((s) => !NAME.test(s))
    .map((text) => ({ kind: 'invalid' as const, text })),
);
const source = (part: Part) =>
  part.kind === 'text' ? part.text : part.kind === 'escaped' ? `$\${${part.text}}` : `\${${part.text}}`;

test("environment substitution: exactly the variables' values, once; missing or invalid references are problems there", () => {
  const seen = new Tally();
  const envArb = fc
    .array(
      fc.tuple(
        nameArb,
        fc.oneof(anyString(20), fc.constantFrom('${A}', '$${A}', 'a: [1]\nb: 2', '{ evil: true }', '')),
      ),
      { maxLength: 6 },
    )
    .map((pairs) => Object.fromEntries(pairs) as NodeJS.ProcessEnv);
  fc.assert(
    fc.property(fc.array(partArb, { minLength: 1, maxLength: 6 }), envArb, (parts, env) => {
      const template = parts.map(source).join('');
      const result = parse(
        stringify({ publicUrl: BASE.publicUrl, secrets: BASE.secrets, listen: { host: template } }),
        env,
      );
      const missing = parts.filter((p) => p.kind === 'ref' && !Object.hasOwn(env, p.text));
      const invalid = parts.filter((p) => p.kind === 'invalid');
      const expected = parts
        .map((p) =>
          p.kind === 'ref' ? env[p.text] : p.kind === 'escaped' ? `\${${p.text}}` : p.kind === 'text' ? p.text : '',
        )
        .join('');
      if (missing.length || invalid.length || expected.trim() === '') {
        seen.add('problem');
        assert.ok(result instanceof ConfigError, `${JSON.stringify(template)} accepted`);
        assert.ok(
          result.problems.every((p) => p.path === 'listen.host'),
          JSON.stringify(result.problems),
        );
        const messages = result.problems.map((p) => p.message);
        for (const p of missing)
          assert.ok(
            messages.includes(`environment variable ${p.text} is not set`),
            `${p.text}: ${messages.join('; ')}`,
          );
        for (const p of invalid)
          assert.ok(
            messages.some((m) => m.includes(`"\${${p.text}}" is not a valid environment variable reference`)),
            messages.join('; '),
          );
      } else {
        seen.add('substituted');
        assert.ok(!(result instanceof ConfigError), result instanceof ConfigError ? result.message : '');
        assert.equal(result.listen.host, expected);
      }
    }),
    params(600),
  );
  assert.ok(seen.get('substituted') > 0 && seen.get('problem') > 0);
});

test('loadConfig: any bytes in the file give a Config or a ConfigError', async () => {
  const { dir, remove } = await tempDir();
  try {
    const file = join(dir, 'signonce.yaml');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.constant(Buffer.from(stringify(BASE)))),
        async (bytes) => {
          await writeFile(file, bytes);
          try {
            assertDocumented(await loadConfig(file, {}));
          } catch (error) {
            assert.ok(error instanceof ConfigError, String(error));
          }
        },
      ),
      params(100),
    );
  } finally {
    await remove();
  }
});
