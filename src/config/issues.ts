// Schema issues (zod) turned into problems a person can act on: what was expected, what was
// found, and for a misspelt option the one that was probably meant.
import type { z } from 'zod';
import { formatPath, type Problem } from './problems.ts';
import { configSchema, show } from './schema.ts';

type Internals = { _zod: { def: Record<string, unknown> & { type: string } } };

/** The value at `path` in the raw file, if there is one. */
function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (value, key) =>
      value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined,
    raw,
  );
}

/** The options an object at `path` accepts, found by walking the schema beside the raw file. */
function optionsAt(raw: unknown, path: readonly PropertyKey[]): string[] {
  let schema = configSchema as unknown as Internals;
  let walked: PropertyKey[] = [];
  const unwrap = () => {
    for (;;) {
      const def = schema._zod.def;
      if (['optional', 'default', 'prefault', 'nullable'].includes(def.type)) schema = def.innerType as Internals;
      else if (def.type === 'pipe') schema = def.in as Internals;
      else if (def.type === 'union') {
        const type = (valueAt(raw, walked) as { type?: unknown } | undefined)?.type;
        const match = (def.options as Internals[]).find((o) =>
          ((o._zod.def.shape as Record<string, Internals>).type?._zod.def.values as unknown[] | undefined)?.includes(
            type,
          ),
        );
        if (!match) return false;
        schema = match;
      } else return true;
    }
  };
  for (const key of [...path, undefined]) {
    if (!unwrap()) return [];
    if (key === undefined) break;
    const def = schema._zod.def;
    if (def.type === 'object') schema = (def.shape as Record<string, Internals>)[String(key)]!;
    else if (def.type === 'array') schema = def.element as Internals;
    else return [];
    if (!schema) return [];
    walked = [...walked, key];
  }
  const def = schema._zod.def;
  return def.type === 'object' ? Object.keys(def.shape as object) : [];
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

function unknownOption(key: string, options: string[]): string {
  const near = options
    .map((option) => ({ option, distance: option.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, option) }))
    .filter(({ distance }) => distance <= 2)
    .sort((x, y) => x.distance - y.distance)[0];
  if (near) return `unknown option (did you mean ${show(near.option)}?)`;
  return options.length ? `unknown option (options here: ${options.join(', ')})` : 'unknown option';
}

// Options whose values are credentials: a message names their type, never their value.
const SECRET_OPTION = /secret|key|password|token/i;

function kind(value: unknown, path: readonly PropertyKey[]): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'a mapping';
  // Named by the option, also for an item of a list of secrets (secrets.encryptionKeys[0]).
  const option = path.findLast((key) => typeof key === 'string');
  return SECRET_OPTION.test(String(option ?? '')) ? `a ${typeof value} (not shown)` : `${typeof value} ${show(value)}`;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

export function issueProblems(issues: readonly z.core.$ZodIssue[], raw: unknown): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    const path = issue.path;
    const value = valueAt(raw, path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const options = optionsAt(raw, path);
        return issue.keys.map((key) => ({ path: formatPath([...path, key]), message: unknownOption(key, options) }));
      }
      case 'invalid_type':
        return [
          {
            path: formatPath(path),
            message:
              value === undefined
                ? 'is required'
                : `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${kind(value, path)}`,
          },
        ];
      case 'invalid_value':
        return [
          { path: formatPath(path), message: `${show(value)} is not one of: ${issue.values.map(String).join(', ')}` },
        ];
      case 'invalid_union': {
        const options = (issue as { options?: unknown[] }).options;
        if (!options) break;
        return [
          {
            path: formatPath(path),
            message:
              value === undefined
                ? `is required (one of: ${options.join(', ')})`
                : `${show(value)} is not a provider type (known: ${options.join(', ')})`,
          },
        ];
      }
      case 'too_small':
      case 'too_big':
        if (issue.origin === 'number') {
          return [
            {
              path: formatPath(path),
              message: `${show(value)} is ${issue.code === 'too_small' ? 'below' : 'above'} ${issue.code === 'too_small' ? 'the minimum' : 'the maximum'}, ${String(issue.code === 'too_small' ? issue.minimum : issue.maximum)}`,
            },
          ];
        }
        break;
    }
    return [{ path: formatPath(path), message: issue.message }];
  });
}
