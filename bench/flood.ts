// Signed-in users' requests/s through one `signonce serve` while another process floods the
// sign-in endpoint from one client address (as it arrives through a load balancer), next to the
// same load without the flood. The flood is bounded (its duration) and loopback only.
// Run: npm run build && npm run bench:flood [-- --seconds 8 --rounds 2 --connections 16 --flood-connections 64 --log-level info]
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { generateKey } from '../src/crypto/keyring.ts';
import { startEcho } from '../test/support/gateway.ts';
import { startInstances } from '../test/support/instances.ts';
import { freePort } from '../test/support/ports.ts';
import { UserAgent, finalUrl } from '../test/support/user-agent.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '16' },
    'flood-connections': { type: 'string', default: '64' },
    users: { type: 'string', default: '16' },
    'log-level': { type: 'string', default: 'info' },
  },
});
const SECONDS = Number(values.seconds);

interface Result {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (options: object) => Promise<Result>;

const echo = await startEcho();
const port = await freePort();
const appHost = `app.localhost:${port}`;
const instance = await startInstances([port], {
  publicUrl: `http://auth.localhost:${port}`,
  store: 'sqlite:./signonce.db',
  secrets: { encryptionKeys: [generateKey()] },
  devMode: true,
  providers: [{ id: 'dev', type: 'dev' }],
  apps: [{ id: 'app', hosts: [appHost], upstream: echo.url, defaultProvider: 'dev' }],
  // Loopback plays the load balancer: X-Forwarded-For names each client.
  trustedProxies: ['127.0.0.1'],
  log: { level: values['log-level'] },
});
try {
  const cookies: string[] = [];
  for (let i = 0; i < Number(values.users); i++) {
    const ua = new UserAgent();
    const form = await ua.navigate(`http://${appHost}/`, { headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } });
    await ua.submitForm(finalUrl(form), await form.text(), { user_id: `user${i}@example.com` });
    cookies.push(ua.cookieHeader(new URL(`http://${appHost}/`))!);
  }
  let next = 0;
  const users = () =>
    autocannon({
      url: `http://127.0.0.1:${port}/`,
      connections: Number(values.connections),
      duration: SECONDS,
      requests: [
        {
          setupRequest: (request: object) => ({
            ...request,
            headers: {
              host: appHost,
              cookie: cookies[next++ % cookies.length]!,
              'x-forwarded-for': `198.51.100.${(next % 200) + 1}`,
            },
          }),
        },
      ],
    });
  // The flooder: a process of its own, as an attacker's would be.
  const flood = () =>
    new Promise<Result>((resolve, reject) => {
      const script = `const ac = require('autocannon'); ac({ url: 'http://127.0.0.1:${port}/.auth/login/dev', connections: ${Number(values['flood-connections'])}, duration: ${SECONDS},
      headers: { host: '${appHost}', 'x-forwarded-for': '203.0.113.66' } }).then((r) => process.stdout.write(JSON.stringify(r)));`;
      const child = spawn(process.execPath, ['-e', script], {
        cwd: new URL('..', import.meta.url).pathname,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
      });
      child.on('close', (code) =>
        code === 0 ? resolve(JSON.parse(out) as Result) : reject(new Error(`flooder exited ${code}`)),
      );
    });
  await users(); // warm-up
  const rows: string[] = [];
  const quiet: number[] = [];
  const flooded: number[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    const alone = await users();
    quiet.push(alone.requests.average);
    rows.push(
      `| ${round + 1} | without flood | ${alone.requests.average.toFixed(0)} | ${alone.latency.p50} | ${alone.latency.p99} | ${alone.non2xx} | | |`,
    );
    const [during, attack] = await Promise.all([users(), flood()]);
    flooded.push(during.requests.average);
    const refused = attack.statusCodeStats['429']?.count ?? 0;
    const total = Object.values(attack.statusCodeStats).reduce((n, s) => n + s.count, 0);
    rows.push(
      `| ${round + 1} | during flood | ${during.requests.average.toFixed(0)} | ${during.latency.p50} | ${during.latency.p99} | ${during.non2xx} | ${attack.requests.average.toFixed(0)} | ${((100 * refused) / Math.max(1, total)).toFixed(1)} % |`,
    );
  }
  const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
  process.stdout.write(
    [
      `Signed-in users' requests/s (${values.connections} connections, ${values.users} users) through one instance on SQLite, ${SECONDS} s per run; ` +
        `the flooder: another process, ${values['flood-connections']} connections at /.auth/login/dev from one address. 2 shared cores: the flooder takes CPU from everyone.`,
      '',
      '| round | phase | users req/s | p50 ms | p99 ms | users non-2xx | flood req/s | flood answered 429 |',
      '|---:|---|---:|---:|---:|---:|---:|---:|',
      ...rows,
      '',
      `median users req/s during the flood / without: ${(median(flooded) / median(quiet)).toFixed(2)}`,
      '',
    ].join('\n'),
  );
} finally {
  await instance.close();
  echo.server.close();
}
