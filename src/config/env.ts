// `${NAME}` in configuration values is replaced by environment variable NAME; `$${NAME}` stays a
// literal `${NAME}`. Substitution happens on parsed values, never on the file's text, so a variable
// cannot inject YAML structure.
import { formatPath, type Problem } from './problems.ts';

const REFERENCE = /\$(\$?)\{([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  problems: Problem[],
  path: PropertyKey[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(REFERENCE, (whole, escaped: string, name: string) => {
      if (escaped) return whole.slice(1);
      if (!NAME.test(name)) {
        problems.push({
          path: formatPath(path),
          message: `"\${${name}}" is not a valid environment variable reference (write $\${…} for a literal)`,
        });
        return whole;
      }
      // Own variables only: `toString` or `__proto__` is not set just because every object has one.
      const replacement = Object.hasOwn(env, name) ? env[name] : undefined;
      if (replacement === undefined) {
        problems.push({ path: formatPath(path), message: `environment variable ${name} is not set` });
        return whole;
      }
      return replacement;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, problems, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, substituteEnv(item, env, problems, [...path, key])]),
    );
  }
  return value;
}
