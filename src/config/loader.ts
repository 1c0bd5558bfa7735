// Reading a configuration: YAML (JSON is YAML too), then `${NAME}` substitution, then the schema
// and the cross-field rules, all problems gathered before anything is refused.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { crossFieldProblems } from './checks.ts';
import { substituteEnv } from './env.ts';
import { issueProblems } from './issues.ts';
import { ConfigError, type Problem } from './problems.ts';
import { configSchema, type Config } from './schema.ts';

const DEFAULT_PATH = 'signonce.yaml';

/** The config file to read: `--config FILE`, else `$SIGNONCE_CONFIG`, else `./signonce.yaml`. */
export function resolveConfigPath(argument: string | undefined, env: NodeJS.ProcessEnv): string {
  return argument ?? (env.SIGNONCE_CONFIG || DEFAULT_PATH);
}

/** Whether a value contains itself (a YAML alias inside its own anchor), which no option can. */
function circular(value: unknown, within = new Set<unknown>()): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (within.has(value)) return true;
  within.add(value);
  const found = Object.values(value).some((item) => circular(item, within));
  within.delete(value);
  return found;
}

/** Compares paths segment by segment, numbers as numbers, so problems read in file order. */
const byPath = (a: Problem, b: Problem) => a.path.localeCompare(b.path, 'en', { numeric: true });

/**
 * Parses and validates a configuration's text. `source` names it in messages; a relative
 * `sqlite:` path is taken relative to the folder of `source`.
 */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length) {
    throw new ConfigError(
      source,
      document.errors.map((error) => ({
        path: error.linePos ? `line ${error.linePos[0].line}:${error.linePos[0].col}` : '(root)',
        message: `not valid YAML or JSON: ${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
      })),
    );
  }
  let parsed: unknown;
  try {
    parsed = document.toJS();
  } catch (error) {
    // An alias without its anchor, inside its own anchor, or expanding too far ("billion laughs").
    throw new ConfigError(source, [{ path: '(root)', message: `not valid YAML or JSON: ${(error as Error).message}` }]);
  }
  if (circular(parsed))
    throw new ConfigError(source, [
      { path: '(root)', message: 'not valid YAML or JSON: an alias inside its own anchor' },
    ]);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(source, [
      {
        path: '(root)',
        message:
          parsed == null
            ? 'the file is empty; see "Configuration reference" in README.md'
            : 'expected a mapping of options (publicUrl: …, secrets: …)',
      },
    ]);
  }
  const envProblems: Problem[] = [];
  const raw = substituteEnv(parsed, env, envProblems) as Record<string, unknown>;
  const result = configSchema.safeParse(raw);
  // A value whose variable is missing is reported once, as missing, not again as malformed.
  const envPaths = new Set(envProblems.map((p) => p.path));
  const problems = [
    ...envProblems,
    ...(result.success ? [] : issueProblems(result.error.issues, raw)).filter((p) => !envPaths.has(p.path)),
    ...crossFieldProblems(raw),
  ];
  if (problems.length || !result.success) throw new ConfigError(source, problems.sort(byPath));

  const config = result.data;
  if (config.store.startsWith('sqlite:')) {
    const path = config.store.slice('sqlite:'.length);
    if (!isAbsolute(path)) config.store = `sqlite:${resolve(dirname(resolve(source)), path)}`;
  }
  return config;
}

/** Reads and validates the configuration file at `path`. */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'no such file: create it (see "Configuration reference" in README.md) or name another with --config FILE or $SIGNONCE_CONFIG'
        : `cannot be read: ${(error as Error).message}`;
    throw new ConfigError(path, [{ path: '(root)', message: reason }]);
  }
  return parseConfig(text, path, env);
}
