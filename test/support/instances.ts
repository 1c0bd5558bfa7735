// Several real `signonce serve` processes sharing one configuration (and so one store), each on a
// port of its own: a cluster as an operator runs it. The configuration's listen port is set per
// instance; everything else is the same for all. Tests and benches (bench/cluster.ts,
// bench/flood.ts) start them here. A relative `sqlite:` path lands in the instances' own folder.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { start, type Running } from './cli.ts';
import { freePort } from './ports.ts';
import { tempDir } from './tmp.ts';

export interface Instances {
  readonly ports: readonly number[];
  readonly processes: readonly Running[];
  /** The configuration file of instance `i` (for CLI commands against the same store). */
  configFile(i: number): string;
  /** SIGKILL: no graceful stop, as when a machine or process dies. */
  kill(i: number): Promise<void>;
  close(): Promise<void>;
}

/** `count` instances on free ports, or one per port of `ports` (when the configuration must name them). */
const READY_WITHIN_MS = 30_000;

/** Until the instance answers /readyz (its store works), whatever its log level; fails if it exits. */
async function ready(running: Running, port: number): Promise<void> {
  for (const until = Date.now() + READY_WITHIN_MS; ; ) {
    if (running.child.exitCode !== null)
      throw new Error(`signonce serve exited:\n${running.stdout()}\n${running.stderr()}`);
    if (
      await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    if (Date.now() > until)
      throw new Error(
        `signonce serve on ${port} not ready within ${READY_WITHIN_MS / 1000} s:\n${running.stdout()}\n${running.stderr()}`,
      );
    await sleep(50);
  }
}

export async function startInstances(
  count: number | readonly number[],
  config: Record<string, unknown>,
): Promise<Instances> {
  const { dir, remove } = await tempDir();
  const ports = typeof count === 'number' ? await Promise.all(Array.from({ length: count }, () => freePort())) : count;
  const files = ports.map((_, i) => join(dir, `signonce-${i}.yaml`));
  const processes: Running[] = [];
  const close = async () => {
    for (const running of processes) running.child.kill('SIGKILL');
    await Promise.all(processes.map((running) => running.finished));
    await remove();
  };
  try {
    for (const [i, port] of ports.entries()) {
      await writeFile(files[i]!, stringify({ ...config, listen: { host: '127.0.0.1', port } }));
      processes.push(start(['serve', '--config', files[i]!]));
    }
    await Promise.all(processes.map((running, i) => ready(running, ports[i]!)));
  } catch (error) {
    await close();
    throw error;
  }
  return {
    ports,
    processes,
    configFile: (i) => files[i]!,
    async kill(i) {
      processes[i]!.child.kill('SIGKILL');
      await processes[i]!.finished;
    },
    close,
  };
}
