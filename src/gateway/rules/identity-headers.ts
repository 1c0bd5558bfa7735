// What an app behind the gateway may believe: identity headers come from SignOnce alone. Every
// client-sent X-MS-CLIENT-PRINCIPAL*, X-MS-TOKEN-* and X-SIGNONCE-* header goes, in any case, any number of times,
// and in its underscore spelling (CGI-style frameworks read X_MS_CLIENT_PRINCIPAL as the dashed
// one). SignOnce's own cookies go too, so no app ever holds a session it could replay.

const IDENTITY_PREFIXES = ['x-ms-client-principal', 'x-ms-token-', 'x-signonce-'];

/** Whether a request header name is one only SignOnce may set. */
export function isIdentityHeader(name: string): boolean {
  const normalised = name.toLowerCase().replaceAll('_', '-');
  return IDENTITY_PREFIXES.some((prefix) => normalised.startsWith(prefix));
}

/** A Cookie header without the named cookies; undefined when nothing is left. */
export function withoutCookies(header: string, names: ReadonlySet<string>): string | undefined {
  const kept = header.split(';').filter((pair) => {
    const name = pair.split('=', 1)[0]!.trim();
    return pair.trim() !== '' && !names.has(name);
  });
  return kept.length ? kept.map((pair) => pair.trim()).join('; ') : undefined;
}

/** Whether a request header carries a SignOnce credential: always X-ZUMO-AUTH; Authorization when it held SignOnce's token. */
export function isCredentialHeader(name: string, authorizationIsOurs: boolean): boolean {
  const lower = name.toLowerCase().replaceAll('_', '-');
  return lower === 'x-zumo-auth' || (authorizationIsOurs && lower === 'authorization');
}

/**
 * The request headers to send upstream, from Node's `rawHeaders` (name, value, name, value, …,
 * every occurrence as received): identity headers removed, SignOnce's cookies and credentials
 * removed (an app never holds what it could replay at another app).
 */
export function forwardableHeaders(
  rawHeaders: readonly string[],
  ownCookies: ReadonlySet<string>,
  authorizationIsOurs = false,
): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    if (isIdentityHeader(name) || isCredentialHeader(name, authorizationIsOurs)) continue;
    if (name.toLowerCase() === 'cookie') {
      const rest = withoutCookies(value, ownCookies);
      if (rest !== undefined) headers.push([name, rest]);
      continue;
    }
    headers.push([name, value]);
  }
  return headers;
}
