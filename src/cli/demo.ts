// `signonce demo [--port N]`: everything embedded, nothing to configure. A real config file is
// written to a temporary folder (so it can be read and copied), with SQLite beside it.
import { rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, loadConfig } from '../config/index.ts';
import { generateKey } from '../crypto/keyring.ts';
import { startSampleApp } from '../demo/sample-app.ts';
import { serveConfig } from './serve.ts';
import { parseOptions, reportConfigError, usageError } from './usage.ts';

export const usage =
  'signonce demo [--port N]    run a self-contained demo: two sample apps behind the gateway (port 8080 by default)';

export async function run(argv: string[]): Promise<number> {
  const options = parseOptions(argv, { port: { type: 'string', default: '8080' } }, usage);
  if (!options) return 2;
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    return usageError(usage, `--port: "${options.port}" is not a port number (1-65535)`);

  const dir = await mkdtemp(join(tmpdir(), 'signonce-demo-'));
  const apps = await Promise.all(['app1', 'app2'].map((name) => startSampleApp(name)));
  try {
    const host = (name: string) => `${name}.localhost:${port}`;
    const file = join(dir, 'signonce.yaml');
    await writeFile(
      file,
      stringify({
        publicUrl: `http://${host('auth')}`,
        listen: { host: '127.0.0.1', port },
        store: `sqlite:${join(dir, 'signonce.db')}`,
        secrets: { encryptionKeys: [generateKey()] },
        devMode: true,
        providers: [{ id: 'dev', type: 'dev' }],
        apps: apps.map(({ url }, i) => ({
          id: `app${i + 1}`,
          hosts: [host(`app${i + 1}`)],
          upstream: url,
          defaultProvider: 'dev',
          tokenStore: true,
        })),
      }),
      { mode: 0o600 },
    );
    const config = await loadConfig(file, {});
    return await serveConfig(config, () => {
      process.stdout.write(
        [
          '',
          'SignOnce demo: everything below lives in memory and in a temporary folder.',
          `  app1        http://${host('app1')}/`,
          `  app2        http://${host('app2')}/`,
          `  auth host   http://${host('auth')}/healthz`,
          `  config      ${file}`,
          'Press Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
    });
  } catch (error) {
    if (error instanceof ConfigError) return reportConfigError(error);
    throw error;
  } finally {
    await Promise.all(apps.map(({ server }) => new Promise((resolve) => server.close(resolve))));
    await rm(dir, { recursive: true, force: true });
  }
}
