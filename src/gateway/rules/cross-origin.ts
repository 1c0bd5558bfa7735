// Whether a request comes from a page of another origin: the anti-forgery rule of every
// state-changing endpoint a browser reaches with SignOnce's cookies.
import type { IncomingHttpHeaders } from 'node:http';

/**
 * A request sent by a page of another origin (CSRF; cross-site WebSocket hijacking, RFC 6455 10.2).
 * Fetch Metadata's `Sec-Fetch-Site` (W3C Fetch Metadata Request Headers 2.1), when the browser sends
 * it, decides: `same-origin` passes; `same-site` is refused (a sibling host is an attacker,
 * SECURITY.md); `none` passes: the browser sends it only for what the user started in its own UI
 * (address bar, bookmark), which no page can cause (Fetch Metadata's
 * resource isolation policy allows it too); any other value is refused. Without it, `Origin`
 * (RFC 6454 7.3): absent is a client that is no browser (allowed as before); `null` (sandboxed
 * frame, data: URL, or a page under `Referrer-Policy: no-referrer`, Fetch "serializing a request
 * origin") is refused, since it names no origin; else its host must be `host`.
 */
export function crossOrigin(headers: IncomingHttpHeaders, host: string): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = headers.origin;
  if (origin === undefined) return false;
  // A serialized origin is scheme://host[:port] and nothing else; anything else names no page.
  return !URL.canParse(origin) || new URL(origin).origin !== origin || new URL(origin).host !== host;
}
