// The `signonce` command: one file per subcommand, each `run(argv) -> exit code`.
import { readFileSync } from 'node:fs';

type Command = { usage: string; run(argv: string[]): Promise<number> };

const commands: Record<string, () => Promise<Command>> = {
  serve: () => import('./serve.ts'),
  demo: () => import('./demo.ts'),
  check: () => import('./check.ts'),
  keys: () => import('./keys.ts'),
  users: () => import('./users.ts'),
  accounts: () => import('./accounts.ts'),
  groups: () => import('./groups.ts'),
  access: () => import('./access.ts'),
  audit: () => import('./audit.ts'),
  store: () => import('./store.ts'),
  snippet: () => import('./snippet.ts'),
};

async function help(): Promise<string> {
  const lines = await Promise.all(Object.values(commands).map(async (load) => `  ${(await load()).usage}`));
  return `usage: signonce <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`signonce ${pkg.version}\n`);
    return 0;
  }
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(await help());
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`signonce: unknown command "${name}"\n\n${await help()}`);
    return 2;
  }
  return (await load()).run(rest);
}
