// Which redirect URIs an OpenID client may register (RFC 9700 section 4.1.3: exact matching, so no
// patterns; RFC 8252 for native apps). A pure rule, used by the configuration check.

const LOOPBACK_HOSTS = /^(localhost|127\.0\.0\.1|\[::1\]|[a-z0-9-]+\.localhost)$/i;
const REFUSED_SCHEMES = ['javascript:', 'data:', 'file:', 'blob:', 'vbscript:', 'about:', 'ws:', 'wss:'];

/** Why `uri` cannot be a registered redirect URI, or undefined when it can. */
export function redirectUriProblem(uri: string): string | undefined {
  if (!URL.canParse(uri)) return 'is not an absolute URL';
  const url = new URL(uri);
  if (uri.includes('*')) return 'has a wildcard: redirect URIs are matched exactly (RFC 9700 section 4.1.3)';
  if (uri.includes('#')) return 'has a fragment (RFC 6749 section 3.1.2)';
  if (url.username || url.password) return 'has credentials';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:')
    return LOOPBACK_HOSTS.test(url.hostname) ? undefined : 'is plain http to a host that is not loopback: use https';
  if (REFUSED_SCHEMES.includes(url.protocol)) return `uses the ${url.protocol} scheme`;
  // A native app's private-use scheme: a reverse domain name (RFC 8252 section 7.1).
  return url.protocol.slice(0, -1).includes('.')
    ? undefined
    : 'uses a private-use scheme that is not a reverse domain name (RFC 8252 section 7.1: e.g. com.example.app:/callback)';
}
