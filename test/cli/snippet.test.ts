// `signonce snippet`: the built command prints each proxy's configuration for a forward-auth app,
// and says what is wrong otherwise (exit 2). nginx and Caddy run what it prints in
// test/forward-auth/; Traefik and Envoy are not packaged here, so their configurations are checked
// for what they must say: where to ask, which headers to copy and strip, /.auth/verify kept from clients.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parse } from 'yaml';
import { generateKey } from '../../src/crypto/keyring.ts';
import { runCli } from '../support/cli.ts';
import { tempDir } from '../support/tmp.ts';

let dir: string;
let remove: () => Promise<void>;
let config: string;

before(async () => {
  ({ dir, remove } = await tempDir());
  config = join(dir, 'signonce.yaml');
  await writeFile(
    config,
    `publicUrl: https://auth.example.com
listen: { host: 0.0.0.0, port: 8080 }
secrets: { encryptionKeys: ["${generateKey()}"] }
trustedProxies: [10.0.0.5]
providers:
  - { id: aad, type: oidc, issuer: https://login.example.com, clientId: x, clientSecret: y }
apps:
  - { id: wiki, hosts: [wiki.example.com], upstream: "http://10.0.0.7:3000", mode: forwardAuth,
      resources: [ { alias: graph, provider: aad, scopes: [User.Read] } ] }
  - { id: shop, hosts: [shop.example.com], upstream: "http://10.0.0.8:3000" }
  - { id: notes, hosts: [notes.example.com] }
`,
  );
});
after(() => remove?.());

test('nginx and Caddy: SignOnce at its listen address, the app at its upstream, every identity header owned', async () => {
  const nginx = await runCli(['snippet', 'nginx', '--app', 'wiki', '--config', config]);
  assert.equal(nginx.code, 0, nginx.stderr);
  assert.match(nginx.stdout, /server 127\.0\.0\.1:8080;/, 'a wildcard listen address is reached on loopback');
  assert.match(nginx.stdout, /server 10\.0\.0\.7:3000;/);
  assert.match(nginx.stdout, /server_name wiki\.example\.com;/);
  assert.match(nginx.stdout, /listen 80;/);
  for (const header of ['X-MS-CLIENT-PRINCIPAL-NAME', 'X-MS-TOKEN-AAD-ACCESS-TOKEN', 'X-SIGNONCE-TOKEN-GRAPH'])
    assert.match(nginx.stdout, new RegExp(`proxy_set_header ${header} \\$signonce_wiki_\\d+;`), header);
  assert.match(nginx.stdout, /location \^~ \/\.auth\/verify \{\n\s+internal;/);

  const caddy = await runCli(['snippet', 'caddy', '--app', 'wiki', '--config', config, '--listen', '8443']);
  assert.equal(caddy.code, 0, caddy.stderr);
  assert.match(caddy.stdout, /^http:\/\/wiki\.example\.com:8443 \{/m);
  assert.match(caddy.stdout, /copy_headers .*X-MS-TOKEN-AAD-ID-TOKEN .*X-SIGNONCE-COOKIE>Cookie/);
});

test('Traefik: a forwardAuth middleware asking /.auth/verify, copying (and so first removing) every identity header', async () => {
  const run = await runCli([
    'snippet',
    'traefik',
    '--app',
    'wiki',
    '--config',
    config,
    '--signonce',
    'http://signonce:8080',
  ]);
  assert.equal(run.code, 0, run.stderr);
  const dynamic = parse(run.stdout) as {
    http: {
      routers: Record<string, { rule: string; middlewares?: string[]; service: string }>;
      middlewares: Record<string, { forwardAuth: { address: string; authResponseHeaders: string[] } }>;
    };
  };
  const forwardAuth = dynamic.http.middlewares['wiki-signonce']!.forwardAuth;
  assert.equal(forwardAuth.address, 'http://signonce:8080/.auth/verify');
  assert.ok(forwardAuth.authResponseHeaders.includes('X-MS-CLIENT-PRINCIPAL'));
  assert.ok(forwardAuth.authResponseHeaders.includes('X-MS-TOKEN-AAD-REFRESH-TOKEN'));
  assert.deepEqual(dynamic.http.routers.wiki!.middlewares, ['wiki-signonce']);
  assert.match(
    dynamic.http.routers['wiki-signonce']!.rule,
    /PathPrefix\(`\/\.auth\/`\) && !PathPrefix\(`\/\.auth\/verify`\)/,
  );
});

test('Envoy: ext_authz with the /.auth/verify prefix, identity headers removed from clients and allowed from SignOnce', async () => {
  const run = await runCli(['snippet', 'envoy', '--app', 'wiki', '--config', config, '--listen', '10000']);
  assert.equal(run.code, 0, run.stderr);
  const text = run.stdout;
  const bootstrap = parse(text) as { static_resources: { listeners: unknown[]; clusters: Array<{ name: string }> } };
  assert.deepEqual(
    bootstrap.static_resources.clusters.map((c) => c.name),
    ['signonce_wiki', 'app_wiki'],
  );
  assert.match(text, /path_prefix: \/\.auth\/verify/);
  assert.match(text, /request_headers_to_remove: \[.*"x-ms-client-principal-name".*"x-zumo-auth"\]/);
  assert.match(text, /allowed_upstream_headers:[\s\S]*- exact: x-signonce-token-graph/);
  assert.match(text, /port_value: 10000/);
});

test('what keeps a snippet from being written: exit 2 and why', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['snippet', 'haproxy', '--app', 'wiki'], /name one proxy: nginx, caddy, traefik, envoy/],
    [['snippet', 'nginx'], /--app ID is required/],
    [['snippet', 'nginx', '--app', 'nope'], /no app "nope" \(known: wiki, shop, notes\)/],
    [
      ['snippet', 'nginx', '--app', 'shop'],
      /apps\[1\] \(shop\) is proxied by SignOnce itself; give it mode: forwardAuth/,
    ],
    [['snippet', 'nginx', '--app', 'notes'], /where does the proxy send notes's requests\? Give --upstream URL/],
    [['snippet', 'nginx', '--app', 'wiki', '--listen', '99999'], /--listen "99999" is not a port/],
    [['snippet', 'nginx', '--app', 'wiki', '--upstream', 'ftp://x'], /--upstream "ftp:\/\/x" is not an http\(s\) URL/],
  ];
  for (const [args, message] of cases) {
    const run = await runCli([...args, '--config', config]);
    assert.equal(run.code, 2, args.join(' '));
    assert.match(run.stderr, message, args.join(' '));
    assert.equal(run.stdout, '');
  }
  const given = await runCli([
    'snippet',
    'nginx',
    '--app',
    'notes',
    '--upstream',
    'http://10.0.0.9:80',
    '--config',
    config,
  ]);
  assert.equal(given.code, 0, given.stderr);
  assert.match(given.stdout, /server 10\.0\.0\.9:80;/);
});

test('docs/forward-auth.md shows exactly what the command prints for examples/forward-auth.yaml', async () => {
  const docs = await readFile(new URL('../../docs/forward-auth.md', import.meta.url), 'utf8');
  const blocks = [...docs.matchAll(/<!-- signonce (snippet [^>]+) -->\n```\w*\n([\s\S]*?)```\n/g)];
  assert.deepEqual(
    blocks.map(([, command]) => command!.split(' ')[1]),
    ['nginx', 'caddy', 'traefik', 'envoy'],
  );
  // The example's secrets come from the environment; the snippets do not show them.
  const env = { SIGNONCE_KEY: generateKey(), AAD_TENANT: 'tenant', AAD_CLIENT_ID: 'client', AAD_SECRET: 'secret' };
  const root = fileURLToPath(new URL('../..', import.meta.url));
  for (const [, command, shown] of blocks) {
    const args = command!.split(' ').map((arg) => (arg.startsWith('examples/') ? join(root, arg) : arg));
    const run = await runCli(args, env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(shown, run.stdout, `${command}: docs/forward-auth.md shows something else than the command prints`);
  }
});
