// A SignOnce gateway for tests: a real config (parsed like a file), SQLite in a temp folder, an
// echo upstream per app that answers with the request it received, and captured log lines.
import { startOidcProvider, type IdpOptions, type TestIdp } from './idp.ts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { generateKey } from '../../src/crypto/keyring.ts';
import { startGateway, type Gateway } from '../../src/gateway/gateway.ts';
import { capturedLogger } from './logs.ts';
import { freePort } from './ports.ts';
import { tempDir } from './tmp.ts';

export interface Echo { method: string; url: string; headers: Record<string, string | string[] | undefined>; body: string }

/** An upstream app that answers every request with the request it received, as JSON. */
export async function startEcho(): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; }).on('end', () => {
      const echo: Echo = { method: request.method!, url: request.url!, headers: request.headers, body };
      response.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['app=1; Path=/', 'other=2; Path=/'] });
      response.end(JSON.stringify(echo));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

export interface TestGateway {
  readonly port: number;
  readonly config: Config;
  readonly gateway: Gateway;
  readonly logs: string[];
  url(host: string, path?: string): string;
  /** How many requests for `path` (any host, any query) the gateway has logged. */
  requestsTo(path: string): number;
  close(): Promise<void>;
}

/** Starts a gateway; `build` receives the port and echo upstream URL and returns the config object. */
export async function startTestGateway(build: (port: number, upstream: string) => Record<string, unknown>): Promise<TestGateway> {
  const port = await freePort();
  const echo = await startEcho();
  const { dir, remove } = await tempDir();
  const { logger, lines: logs } = capturedLogger();
  let config: Config;
  let gateway: Gateway;
  try {
    config = parseConfig(stringify({
      listen: { host: '127.0.0.1', port },
      store: `sqlite:${join(dir, 'signonce.db')}`,
      secrets: { encryptionKeys: [generateKey()] },
      ...build(port, echo.url),
    }), join(dir, 'signonce.yaml'), {});
    gateway = await startGateway(config, logger);
  } catch (error) {
    // A test that fails here must not leave the echo server holding the test process open.
    await new Promise((resolve) => echo.server.close(resolve));
    await remove();
    throw error;
  }
  return {
    port, config, gateway, logs,
    url: (host, path = '/') => `http://${host}:${port}${path}`,
    requestsTo: (path) => logs.filter((line) => line.includes('"msg":"incoming request"') && new RegExp(`"url":"${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[?"]`).test(line)).length,
    async close() {
      await gateway.close();
      await new Promise((resolve) => echo.server.close(resolve));
      await remove();
    },
  };
}

/**
 * A gateway that signs in at a real OpenID provider (oidc-provider): the provider starts first,
 * so its issuer can go into the config, and again on the same port once the gateway's callback
 * URLs (for `providerIds`) are known.
 */
export async function startGatewayWithIdp(
  build: (port: number, upstream: string, idp: TestIdp) => Record<string, unknown>,
  { providerIds = ['idp'], ...options }: IdpOptions & { providerIds?: string[] } = {},
): Promise<{ gw: TestGateway; idp: TestIdp }> {
  const first = await startOidcProvider([], undefined, options);
  let gw: TestGateway;
  try {
    gw = await startTestGateway((port, upstream) => build(port, upstream, first));
  } finally {
    await first.close();
  }
  const idp = await startOidcProvider(providerIds.map((id) => `http://auth.localhost:${gw.port}/.auth/login/${id}/callback`), first, options);
  return { gw, idp };
}
