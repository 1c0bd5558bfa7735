// A PostgreSQL server of a test's own (initdb in a temp folder, its own port), started and stopped
// with the server's own pg_ctl: a test can take it down for real without disturbing the shared
// server other test files use at the same time.
import { execFile } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';

const execFileAsync = promisify(execFile);
const PG_ROOT = '/usr/lib/postgresql';

async function binDir(): Promise<string | undefined> {
  const versions = await readdir(PG_ROOT).catch(() => []);
  const newest = versions.filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))[0];
  return newest && join(PG_ROOT, newest, 'bin');
}

/**
 * Why a private server cannot be started here, or undefined when it can; in CI (CI=true) never a
 * reason: the test must run there, and fails loudly without the binaries.
 */
export const privatePostgresSkipReason =
  (await binDir()) || process.env.CI
    ? undefined
    : `no PostgreSQL server binaries under ${PG_ROOT} (Debian's postgresql package): tests that stop a server are skipped`;

export interface PrivatePostgres {
  /** postgres://… for the `postgres` database. */
  readonly url: string;
  /** `immediate` stops without a checkpoint, as a crash does (recovery replays the WAL at start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Runs one of the server's programs (e.g. pg_amcheck) against it; its output. */
  tool(name: string, args: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = await binDir();
  if (!bin) throw new Error(`no PostgreSQL server binaries under ${PG_ROOT}: install Debian's postgresql package`);
  const dir = await mkdtemp(join(tmpdir(), 'signonce-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  // The server refuses to run as root: as root, run its programs as the postgres user.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await execFileAsync('id', ['-u', 'postgres']);
    await chown(dir, Number(stdout.trim()), -1);
  }
  const exec = async (program: string, args: string[]) => {
    const [file, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]]
      : [join(bin, program), args];
    return (await execFileAsync(file, argv, { cwd: dir })).stdout;
  };
  await exec('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const start = async () => {
    await exec('pg_ctl', [
      '-D',
      data,
      '-w',
      '-l',
      join(dir, 'server.log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
      'start',
    ]);
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    await exec('pg_ctl', ['-D', data, '-w', '-m', mode, 'stop']);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop,
    start,
    tool: (name, args) => exec(name, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', ...args]),
    async close() {
      await stop('immediate').catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
