// Running the real `signonce` command (bin/signonce.js over the build in dist/) as a child process.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKey } from '../../src/crypto/keyring.ts';
import { tempDir } from './tmp.ts';

export const BIN = fileURLToPath(new URL('../../bin/signonce.js', import.meta.url));

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  finished: Promise<Finished>;
}

export function start(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const finished = new Promise<Finished>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForLine(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`no line matching ${pattern} within ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`),
            ),
          timeoutMs,
        );
        const check = () => {
          const line = stdout.split('\n').find((l) => pattern.test(l));
          if (line !== undefined) {
            clearTimeout(timer);
            child.stdout.off('data', check);
            resolve(line);
          }
        };
        child.stdout.on('data', check);
        check();
        void finished.then(() => check());
      });
    },
    finished,
  };
}

export function runCli(args: string[], env?: NodeJS.ProcessEnv): Promise<Finished> {
  return start(args, env).finished;
}

/**
 * A fresh folder holding `signonce.yaml` on a SQLite store beside it (plus `lines`), its key in
 * `env.TEST_KEY`: for commands that work on a store. `remove` deletes the folder.
 */
export async function sqliteConfigured(lines: readonly string[] = []) {
  const { dir, remove } = await tempDir();
  const file = join(dir, 'signonce.yaml');
  await writeFile(
    file,
    [
      'publicUrl: http://auth.localhost:8080',
      'store: sqlite:./signonce.db',
      'secrets: { encryptionKeys: ["${TEST_KEY}"] }',
      ...lines,
    ].join('\n'),
  );
  return { dir, file, env: { TEST_KEY: generateKey() }, storeUrl: `sqlite:${join(dir, 'signonce.db')}`, remove };
}
