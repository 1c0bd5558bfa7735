// Where a sign-in or sign-out may send the browser afterwards (`post_login_redirect_uri`,
// `post_logout_redirect_uri`): a path on the same host, or a URL the app's config lists. Anything
// else is refused, not repaired: an open redirect turns the gateway into a phishing aid
// (RFC 9700 section 4.11; OWASP ASVS 5.1.5).

export type RedirectDecision = { ok: true; location: string } | { ok: false; reason: string };

const refuse = (reason: string): RedirectDecision => ({ ok: false, reason });

// Controls, whitespace and backslashes as sent: browsers strip or reinterpret them ("/\evil" is
// "//evil", "/\t/evil" is "//evil"). Once decoded, an app might redirect again: no controls or
// backslashes there either (a decoded space is harmless).
const UNSAFE_CHARACTERS = /[\u0000-\u0020\u007f-\u009f\\\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]/;
const UNSAFE_DECODED = /[\u0000-\u001f\u007f-\u009f\\\u2028\u2029]/;

/** Percent-decodes until stable (at most 4 rounds), so double encodings are seen too. */
function decoded(value: string): string | undefined {
  let current = value;
  for (let round = 0; round < 4; round++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      return undefined;
    }
    if (next === current) return current;
    current = next;
  }
  return undefined;
}

/**
 * The value as a Location header carries it: non-ASCII percent-encoded (UTF-8), as a browser would
 * (Node refuses other characters in headers); undefined for a lone surrogate, which has no UTF-8 form.
 */
function asLocation(value: string): string | undefined {
  try {
    return value.replace(/[^\u0000-\u007f]+/g, encodeURIComponent);
  } catch {
    return undefined;
  }
}

/**
 * The path a browser goes to for `path`, once dot segments ("." and "..", also as %2e) are removed
 * (RFC 3986 section 5.2.4; WHATWG URL's path state): "/.//evil" becomes "//evil".
 */
const resolvedPath = (path: string) => new URL(path, 'http://host.invalid').pathname;

/**
 * A same-host path: one leading "/", and nothing that any decoding or the removal of dot segments
 * turns into "//host" — which an app redirecting to its own path would follow to another origin.
 */
function localPath(value: string, location: string): RedirectDecision {
  const plain = decoded(value);
  if (plain === undefined) return refuse('malformed or too deeply percent-encoded');
  if (UNSAFE_CHARACTERS.test(value) || UNSAFE_DECODED.test(plain))
    return refuse('contains control characters, spaces or backslashes');
  if ([value, plain].some((form) => form.startsWith('//') || resolvedPath(form).startsWith('//')))
    return refuse('not a path on this host');
  return { ok: true, location };
}

/** True when `candidate` is `allowed` or lies under its path (segment-wise, never a longer host). */
function underAllowed(candidate: URL, allowed: URL): boolean {
  if (candidate.protocol !== allowed.protocol || candidate.host !== allowed.host) return false;
  if (candidate.username || candidate.password) return false;
  const base = allowed.pathname.endsWith('/') ? allowed.pathname : `${allowed.pathname}/`;
  return candidate.pathname === allowed.pathname || candidate.pathname.startsWith(base);
}

/**
 * Decides a post-sign-in or post-sign-out redirect. `value` is the parameter as received (already
 * query-decoded once); `allowedExternal` is the app's `allowedExternalRedirectUrls`.
 */
export function checkRedirect(value: string, allowedExternal: readonly string[]): RedirectDecision {
  if (value === '') return refuse('empty');
  if (value.length > 2048) return refuse('longer than 2048 characters');
  const location = asLocation(value);
  if (location === undefined) return refuse('not well-formed Unicode');
  if (value.startsWith('/')) return localPath(value, location);
  if (UNSAFE_CHARACTERS.test(value)) return refuse('contains control characters, spaces or backslashes');
  if (!URL.canParse(value)) return refuse('neither a path on this host nor an absolute URL');
  const candidate = new URL(value);
  // An absolute URL must name its host with "//" ("https:evil" parses as host "evil" in WHATWG URL).
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return refuse('an absolute URL without "//"');
  const allowed = allowedExternal.filter((url) => URL.canParse(url)).map((url) => new URL(url));
  if (allowed.some((url) => underAllowed(candidate, url))) return { ok: true, location };
  return refuse('not a path on this host and not in allowedExternalRedirectUrls');
}

/**
 * Whether a sign-in may end with the authentication token in the fragment of `location` (a target
 * checkRedirect accepted; Easy Auth's `session_mode=token`, or an app scheme): only at a URL the
 * app lists in `allowedExternalRedirectUrls` — an app scheme, or a callback page named on purpose (a
 * same-host path counts when its URL on `appOrigin` is listed). Never an arbitrary page of the app,
 * where any of its scripts, or a redirect onwards, could carry the token off (RFC 9700 section 4.3;
 * a cross-site link could otherwise choose the page).
 */
export function tokenTargetAllowed(location: string, appOrigin: string, allowedExternal: readonly string[]): boolean {
  if (!URL.canParse(location, appOrigin)) return false;
  const candidate = new URL(location, appOrigin);
  return allowedExternal.filter((url) => URL.canParse(url)).some((url) => underAllowed(candidate, new URL(url)));
}
