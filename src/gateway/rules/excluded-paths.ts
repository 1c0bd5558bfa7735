// `excludedPaths`: paths served without authentication. Only a canonical path can be excluded
// (src/access/paths.ts says why): anything else requires authentication. Failing closed costs a
// sign-in on a strange URL; failing open would be a bypass.
import { canonicalPath, pathMatches } from '../../access/paths.ts';

/**
 * Whether `target` (the request target: path and query) is excluded by `patterns`: `/path` matches
 * that path exactly, `/path/*` matches `/path` and everything below it.
 */
export function isExcludedPath(target: string, patterns: readonly string[]): boolean {
  const path = canonicalPath(target);
  return path !== undefined && patterns.some((pattern) => pathMatches(path, pattern));
}
