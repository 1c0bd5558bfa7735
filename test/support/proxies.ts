// Real reverse proxies in front of SignOnce, started by tests on loopback: Debian's nginx
// (/usr/sbin/nginx) and Caddy (/usr/bin/caddy). Each runs as one child process on a free port with
// everything it writes in its own temporary folder, so test files run in parallel and as root or
// not. Tests skip with one line saying why when a proxy is missing, except in CI (CI=true), where
// they must run (and fail). SIGNONCE_TEST_NGINX and SIGNONCE_TEST_CADDY name other binaries.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { freePort } from './ports.ts';
import { tempDir } from './tmp.ts';

export interface RunningProxy {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /** The proxy's process: nginx's only one (master_process off); Caddy's, all its threads. */
  pid: number;
  /** What the proxy has logged so far (nginx: its error log, then its access log; Caddy: its stderr). */
  logs(): string;
  /** Stops the proxy, waits for it to exit and removes its folder. */
  close(): Promise<void>;
}

/** A command's file: `override` when set, else the first executable `name` on the PATH. */
function findBinary(name: string, override: string | undefined): string | undefined {
  if (override) return override;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  return undefined;
}

const nginxBinary = () => findBinary('nginx', process.env.SIGNONCE_TEST_NGINX);
const caddyBinary = () => findBinary('caddy', process.env.SIGNONCE_TEST_CADDY);

export function nginxAvailable(): boolean {
  const file = nginxBinary();
  return file !== undefined && existsSync(file);
}

export function caddyAvailable(): boolean {
  const file = caddyBinary();
  return file !== undefined && existsSync(file);
}

const NGINX_MISSING =
  'nginx not found on the PATH (apt-get install -y nginx; it is /usr/sbin/nginx), nor SIGNONCE_TEST_NGINX set';
const CADDY_MISSING = 'caddy not found on the PATH (apt-get install -y caddy), nor SIGNONCE_TEST_CADDY set';

/** For `{ skip: nginxSkipReason }`: undefined when nginx is there, and always under CI (where a missing nginx fails). */
export const nginxSkipReason = nginxAvailable() || process.env.CI ? undefined : `${NGINX_MISSING}: nginx tests skipped`;

/** For `{ skip: caddySkipReason }`: undefined when Caddy is there, and always under CI (where a missing Caddy fails). */
export const caddySkipReason = caddyAvailable() || process.env.CI ? undefined : `${CADDY_MISSING}: Caddy tests skipped`;

/** Every proxy still running, killed if the test process exits without closing them. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

interface Launch {
  binary: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** True once the output shows the proxy is serving (besides its port accepting connections). */
  ready(output: string): boolean;
  /** Files whose content `logs()` adds after the output, by heading. */
  logFiles: Record<string, string>;
}

/**
 * nginx with `httpBlock` as the content of its http {} block; `{{port}}` in it is replaced by the
 * port it listens on (write `listen 127.0.0.1:{{port}};`).
 */
export async function startNginx(httpBlock: string): Promise<RunningProxy> {
  const binary = nginxBinary();
  if (!binary || !existsSync(binary)) throw new Error(NGINX_MISSING);
  return startProxy('nginx', async (dir, port) => {
    const conf = join(dir, 'nginx.conf');
    // One process (master_process off): nothing changes user, so it runs as whoever runs the tests
    // (root or not) and reads and writes its 0700 folder; no `user` directive is needed.
    await writeFile(
      conf,
      [
        'daemon off;',
        'master_process off;',
        `pid ${join(dir, 'nginx.pid')};`,
        'error_log stderr info;',
        'events { worker_connections 256; }',
        'http {',
        `  access_log ${join(dir, 'access.log')};`,
        `  client_body_temp_path ${join(dir, 'client_body')};`,
        `  proxy_temp_path ${join(dir, 'proxy')};`,
        `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
        `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
        `  scgi_temp_path ${join(dir, 'scgi')};`,
        withPort(httpBlock, port),
        '}',
        '',
      ].join('\n'),
    );
    return {
      binary,
      // -e: the log nginx writes before it has read its config (compiled in as /var/log/... on some builds).
      args: ['-p', `${dir}/`, '-c', conf, '-e', 'stderr'],
      env: process.env,
      // nginx says nothing when it serves; a failed bind is logged at once (it retries for 2.5 s).
      ready: (output) => !output.includes('Address already in use'),
      logFiles: { 'access log': join(dir, 'access.log') },
    };
  });
}

/** Caddy with `siteBlocks` (Caddyfile site blocks, e.g. `:{{port}} { reverse_proxy ... }`); `{{port}}` replaced likewise. */
export async function startCaddy(siteBlocks: string): Promise<RunningProxy> {
  const binary = caddyBinary();
  if (!binary || !existsSync(binary)) throw new Error(CADDY_MISSING);
  return startProxy('caddy', async (dir, port) => {
    const file = join(dir, 'Caddyfile');
    // Caddy 2.6.2 has no `persist_config` Caddyfile option: the autosaved config lands in
    // XDG_CONFIG_HOME, which is inside the folder like every other place it writes to.
    await writeFile(
      file,
      [
        '{',
        '  admin off',
        '  auto_https off',
        '  default_bind 127.0.0.1',
        `  storage file_system ${join(dir, 'storage')}`,
        '  grace_period 1s',
        '}',
        withPort(siteBlocks, port),
        '',
      ].join('\n'),
    );
    return {
      binary,
      args: ['run', '--adapter', 'caddyfile', '--config', file],
      env: {
        ...process.env,
        HOME: dir,
        XDG_CONFIG_HOME: join(dir, 'config'),
        XDG_DATA_HOME: join(dir, 'data'),
        XDG_CACHE_HOME: join(dir, 'cache'),
      },
      ready: (output) => output.includes('serving initial configuration'),
      logFiles: {},
    };
  });
}

function withPort(template: string, port: number): string {
  if (!template.includes('{{port}}')) throw new Error('the proxy config must listen on {{port}}');
  return template.replaceAll('{{port}}', String(port));
}

class AddressInUse extends Error {}

/** Starts a proxy on a fresh port, again on another one if something else took the port first. */
async function startProxy(
  name: string,
  prepare: (dir: string, port: number) => Promise<Launch>,
): Promise<RunningProxy> {
  for (let attempt = 1; ; attempt++) {
    const { dir, remove } = await tempDir(`signonce-${name}-`);
    try {
      const port = await freePort();
      return await launch(name, port, await prepare(dir, port), remove);
    } catch (error) {
      await remove();
      if (!(error instanceof AddressInUse) || attempt === 3) throw error;
    }
  }
}

async function launch(name: string, port: number, how: Launch, remove: () => Promise<void>): Promise<RunningProxy> {
  const child = spawn(how.binary, how.args, { env: how.env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<string>((resolve) => {
    child.on('error', (error) => {
      output += `${error.message}\n`;
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve(signal ? `signal ${signal}` : `code ${code}`);
    });
  });
  let exitedWith: string | undefined;
  void exited.then((how) => {
    exitedWith = how;
  });

  let finalLogs: string | undefined;
  const logs = () => {
    if (finalLogs !== undefined) return finalLogs;
    let text = output;
    for (const [heading, file] of Object.entries(how.logFiles)) {
      let content = '';
      try {
        content = readFileSync(file, 'utf8');
      } catch {}
      if (content) text += `--- ${name} ${heading} ---\n${content}`;
    }
    return text;
  };

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      if (exitedWith === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      finalLogs = logs();
      await remove();
    })();
    return closing;
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (output.includes('Address already in use') || output.includes('address already in use')) {
      await close();
      throw new AddressInUse(`${name}: port ${port} was taken`);
    }
    if (exitedWith !== undefined) {
      await close();
      throw new Error(`${name} exited (${exitedWith}) before listening on 127.0.0.1:${port}:\n${output}`);
    }
    if (how.ready(output) && (await accepts(port))) break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`${name} did not listen on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { url: `http://127.0.0.1:${port}`, port, pid: child.pid!, logs, close };
}

/** Whether a port on 127.0.0.1 accepts connections. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
