import { CodedError } from '../errors/index.ts';

/** One thing wrong with a configuration: where (`apps[1].upstream`) and what, with a hint. */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

/** `apps[1].upstream` from `['apps', 1, 'upstream']`; `(root)` for the file itself. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    text += typeof key === 'number' ? `[${key}]` : `${text ? '.' : ''}${String(key)}`;
  }
  return text || '(root)';
}

/** A configuration that cannot be used; `message` lists every problem, one per line. */
export class ConfigError extends CodedError {
  static readonly code = 'ERR_CONFIG';
  readonly code = ConfigError.code;
  readonly source: string;
  readonly problems: readonly Problem[];
  constructor(source: string, problems: readonly Problem[]) {
    const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
    super(`${source}: ${count}\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
    this.source = source;
    this.problems = problems;
  }
}
