// A SignOnce gateway for tests: a real config (parsed like a file), SQLite in a temp folder, an
// upstream app that answers with the request it received, real identity providers when a test
// needs them, and captured log lines. One harness (startGatewayHarness); the rest are presets.
import { startOidcProvider, type IdpOptions, type TestIdp } from './idp.ts';
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { startGateway, type Gateway } from '../../src/gateway/gateway.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { capturedLogger } from './logs.ts';
import { startOAuth1Server, type OAuth1Server } from './oauth1-server.ts';
import { freePort } from './ports.ts';
import { tempDir } from './tmp.ts';

export interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** What an upstream app received: every request its HTTP parser made out. */
export interface Received {
  readonly method: string;
  readonly url: string;
  /** As on the wire: [name, value, name, value, ...]. */
  readonly rawHeaders: readonly string[];
  readonly trailers: readonly string[];
  readonly body: string;
}

interface Upstream {
  url: string;
  received: Received[];
  server: Server;
}

/** An upstream app on loopback that records every request it receives, then `answer`s it. */
async function startUpstream(
  options: ServerOptions,
  encoding: BufferEncoding,
  answer: (seen: Received, request: IncomingMessage, response: ServerResponse) => void,
): Promise<Upstream> {
  const received: Received[] = [];
  const server = createServer(options, (request, response) => {
    let body = '';
    request
      .setEncoding(encoding)
      .on('data', (chunk: string) => {
        body += chunk;
      })
      .on('end', () => {
        const seen: Received = {
          method: request.method!,
          url: request.url!,
          rawHeaders: request.rawHeaders,
          trailers: request.rawTrailers,
          body,
        };
        received.push(seen);
        answer(seen, request, response);
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, server };
}

/** An upstream app that answers every request with the request it received, as JSON. */
export function startEcho(): Promise<Upstream> {
  return startUpstream({}, 'utf8', ({ method, url, body }, request, response) => {
    const echo: Echo = { method, url, headers: request.headers, body };
    response.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['app=1; Path=/', 'other=2; Path=/'] });
    response.end(JSON.stringify(echo));
  });
}

/**
 * The app behind the gateway, as lenient as the worst real app server (insecureHTTPParser: it
 * accepts what strict parsers refuse), so that anything the gateway lets through shows here.
 * Answers each request with what it received, as JSON.
 */
function startRecordingUpstream(): Promise<Upstream> {
  return startUpstream({ insecureHTTPParser: true }, 'latin1', (seen, _request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(seen));
  });
}

const closeServer = (server: Server) => {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(resolve));
};

export interface TestGateway {
  readonly port: number;
  readonly config: Config;
  readonly gateway: Gateway;
  /** Every log line, raw. */
  readonly logs: string[];
  /** What the upstream received, in order. */
  readonly received: Received[];
  /** The real OpenID providers asked for, in order, restarted with the gateway's callback URLs. */
  readonly idps: readonly TestIdp[];
  /** With `oauth1: true`, the OAuth 1.0a server. */
  readonly oauth1?: OAuth1Server;
  /** The SQLite file of the store (what a thief of the database or a backup holds, with its -wal file). */
  readonly databaseFile: string;
  url(host: string, path?: string): string;
  /** How many requests for `path` (any host, any query) the gateway has logged. */
  requestsTo(path: string): number;
  /** The gateway's store, opened by the test with the same keys (to read the signing key, say). */
  store(): Promise<Store>;
  /** Stops the gateway and everything the harness started for it. */
  close(): Promise<void>;
}

/** What a config builder gets: the gateway's port, the upstream's URL and the servers started before it. */
export interface Started {
  readonly port: number;
  readonly upstream: string;
  readonly idps: readonly TestIdp[];
  readonly oauth1?: OAuth1Server;
}

export interface HarnessOptions {
  /** `echo` (default): answers with the request it received; `recording`: a lenient parser (see startRecordingUpstream). */
  readonly upstream?: 'echo' | 'recording';
  /** Real OpenID providers to start, each accepting the callback URLs of its `providerIds`. */
  readonly idps?: ReadonlyArray<{ readonly providerIds: readonly string[]; readonly options?: IdpOptions }>;
  /** Starts an OAuth 1.0a server (test/support/oauth1-server.ts). */
  readonly oauth1?: boolean;
  readonly logLevel?: 'trace' | 'info';
}

/**
 * Starts a gateway from the config object `build` returns (over a listen address, a SQLite store
 * and an encryption key), with its upstream app and the identity providers asked for. OpenID
 * providers start first, so that their issuers can go into the config, and again on the same
 * port once the gateway's callback URLs are known.
 */
export async function startGatewayHarness(
  build: (started: Started) => Record<string, unknown>,
  {
    upstream: upstreamKind = 'echo',
    idps: wanted = [],
    oauth1: withOAuth1 = false,
    logLevel = 'info',
  }: HarnessOptions = {},
): Promise<TestGateway> {
  const port = await freePort();
  const { dir, remove } = await tempDir();
  const { logger, lines: logs } = capturedLogger(logLevel);
  const databaseFile = join(dir, 'signonce.db');
  // What runs, stopped last first by close(), or when starting fails (a server left open would
  // hold the test process open).
  const running: Array<() => Promise<unknown>> = [remove];
  const stop = async () => {
    for (let next = running.pop(); next; next = running.pop()) await next();
  };
  try {
    const upstream = upstreamKind === 'echo' ? await startEcho() : await startRecordingUpstream();
    running.push(() => closeServer(upstream.server));
    const oauth1 = withOAuth1 ? await startOAuth1Server() : undefined;
    if (oauth1) running.push(() => oauth1.close());
    let idps = await Promise.all(wanted.map(({ options }) => startOidcProvider([], undefined, options)));
    running.push(() => Promise.all(idps.map((idp) => idp.close())));
    const config = parseConfig(
      stringify({
        listen: { host: '127.0.0.1', port },
        store: `sqlite:${databaseFile}`,
        secrets: { encryptionKeys: [generateKey()] },
        ...build({ port, upstream: upstream.url, idps, ...(oauth1 ? { oauth1 } : {}) }),
      }),
      join(dir, 'signonce.yaml'),
      {},
    );
    const gateway = await startGateway(config, logger);
    running.push(() => gateway.close());
    await Promise.all(idps.map((idp) => idp.close()));
    idps = await Promise.all(
      wanted.map(({ providerIds, options }, i) =>
        startOidcProvider(
          providerIds.map((id) => `http://auth.localhost:${port}/.auth/login/${id}/callback`),
          idps[i],
          options,
        ),
      ),
    );
    let opened: Store | undefined;
    return {
      port,
      config,
      gateway,
      logs,
      received: upstream.received,
      idps,
      ...(oauth1 ? { oauth1 } : {}),
      databaseFile,
      url: (host, path = '/') => `http://${host}:${port}${path}`,
      requestsTo: (path) =>
        logs.filter(
          (line) =>
            line.includes('"msg":"incoming request"') &&
            new RegExp(`"url":"${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[?"]`).test(line),
        ).length,
      async store() {
        if (!opened) {
          opened = await openStore(config.store, { keyring: new Keyring(config.secrets.encryptionKeys) });
          const store = opened;
          running.push(() => store.close());
        }
        return opened;
      },
      close: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Starts a gateway; `build` receives the port and echo upstream URL and returns the config object. */
export function startTestGateway(
  build: (port: number, upstream: string) => Record<string, unknown>,
): Promise<TestGateway> {
  return startGatewayHarness(({ port, upstream }) => build(port, upstream));
}

/**
 * A gateway that signs in at a real OpenID provider (oidc-provider), whose callback URLs are
 * those of `providerIds`. The gateway's close() stops the provider too.
 */
export async function startGatewayWithIdp(
  build: (port: number, upstream: string, idp: TestIdp) => Record<string, unknown>,
  { providerIds = ['idp'], ...options }: IdpOptions & { providerIds?: string[] } = {},
): Promise<{ gw: TestGateway; idp: TestIdp }> {
  const gw = await startGatewayHarness(({ port, upstream, idps }) => build(port, upstream, idps[0]!), {
    idps: [{ providerIds, options }],
  });
  return { gw, idp: gw.idps[0]! };
}
