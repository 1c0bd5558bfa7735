// Request paths as rules see them (`excludedPaths`, `access[].paths`). A decision about a path
// must hold whatever the upstream makes of it, so only a path already in canonical form is
// matched: anything an upstream might normalise into another path (dot segments, encoded dots or
// slashes, `;` parameters, doubled slashes, backslashes, an encoded `#` or `?`, an encoded `%`,
// which an app behind a decoding proxy decodes again) is not canonical, and each caller fails
// closed on it (OWASP ASVS 4.1.3; RFC 3986 section 6 on equivalent URIs).

/** The request path without its query string; undefined when it is not canonical. */
export function canonicalPath(target: string): string | undefined {
  const path = target.split('?', 1)[0]!;
  if (!path.startsWith('/') || path.includes('#')) return undefined;
  if (/\/\/|\\|;|%(?:2e|2f|5c|23|3f|3b|00|25)|[\u0000-\u0020\u007f]/i.test(path)) return undefined;
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) return undefined;
  // Other percent-encodings are fine only when well-formed.
  try {
    decodeURIComponent(path);
  } catch {
    return undefined;
  }
  return path;
}

/**
 * Whether a canonical `path` is matched by `pattern`: `/path` matches that path exactly,
 * `/path/*` matches `/path` and everything below it. Case-sensitive, as paths are.
 */
export function pathMatches(path: string, pattern: string): boolean {
  if (!pattern.endsWith('/*')) return path === pattern;
  const base = pattern.slice(0, -2);
  return path === base || path.startsWith(`${base}/`);
}
