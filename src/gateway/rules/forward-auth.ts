// The original request a proxy asks /.auth/verify about (forward-auth, docs/forward-auth.md). The
// proxy describes it in headers; a client can write the same headers, so the endpoint believes
// them only from `trustedProxies` (endpoints/forward-auth.ts), and this rule refuses any
// description that is ambiguous: two values of one header, two spellings that disagree, or a
// target that is not a path (an absolute URI would name a host of the sender's choosing).
//
// The shapes proxies send:
// - nginx `auth_request` (the snippet SignOnce prints): `Host` the app's, `X-Original-URI`,
//   `X-Original-Method`. nginx accepts only 2xx, 401 and 403 from the subrequest, so a sign-in
//   redirect is answered as 401 for the snippet's `error_page` to turn into a 302.
// - Traefik ForwardAuth, Caddy `forward_auth`: `X-Forwarded-Host`, `X-Forwarded-Uri`,
//   `X-Forwarded-Method` (`X-Forwarded-Proto`); their answers pass a 302 to the browser as is.
// - Envoy `ext_authz` (HTTP service, `path_prefix: /.auth/verify`): the original method, path and
//   `Host`, the path appended to the prefix.
import { HTTP_TOKEN } from '../../config/schema.ts';

export const VERIFY_PATH = '/.auth/verify';

export interface OriginalRequest {
  /** The Host the client asked, in lower case (routed as any request's, rules/hosts.ts). */
  readonly host: string;
  /** The request target, as the client sent it (path and query). */
  readonly url: string;
  readonly method: string;
  /** Whether the proxy passes a redirect on to the client (all but nginx's auth_request). */
  readonly redirects: boolean;
}

/** Every value of a header, in order, from Node's rawHeaders (each occurrence kept). */
function valuesOf(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2)
    if (rawHeaders[i]!.toLowerCase() === name) values.push(rawHeaders[i + 1]!);
  return values;
}

/** One header's single value; a problem when it came twice (or as a list, for hosts). */
function single(rawHeaders: readonly string[], name: string, list = false): string | { problem: string } | undefined {
  const values = valuesOf(rawHeaders, name);
  if (values.length > 1 || (list && values[0]?.includes(',')))
    return { problem: `${name} names more than one value; the proxy must send exactly one` };
  return values[0];
}

const isProblem = (value: unknown): value is { problem: string } =>
  typeof value === 'object' && value !== null && 'problem' in value;

// An origin-form target (RFC 9110 section 7.1, RFC 9112 section 3.2.1): "/" then visible ASCII.
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;
// A host as a Host header carries it (RFC 9110 section 7.2): reg-name or IPv4, or an IPv6 literal; a port.
const HOST = /^(?:[a-z0-9._~-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

/**
 * The original request described by a verify request: its `path` (`/.auth/verify…`, with the query
 * as received), `method` and raw headers. A `problem` when the description is missing or ambiguous.
 */
export function originalRequestOf(request: {
  path: string;
  method: string;
  rawHeaders: readonly string[];
}): OriginalRequest | { problem: string } {
  const { path, rawHeaders } = request;
  const tail = path.slice(VERIFY_PATH.length);
  const originalUri = single(rawHeaders, 'x-original-uri');
  const forwardedUri = single(rawHeaders, 'x-forwarded-uri');
  const forwardedHost = single(rawHeaders, 'x-forwarded-host', true);
  const hostHeader = single(rawHeaders, 'host');
  const methodHeaders = [single(rawHeaders, 'x-original-method'), single(rawHeaders, 'x-forwarded-method')];
  for (const value of [originalUri, forwardedUri, forwardedHost, hostHeader, ...methodHeaders])
    if (isProblem(value)) return value;
  const [originalMethod, forwardedMethod] = methodHeaders as Array<string | undefined>;
  if (typeof originalUri === 'string' && typeof forwardedUri === 'string' && originalUri !== forwardedUri)
    return { problem: 'X-Original-URI and X-Forwarded-Uri name different requests' };
  if (originalMethod !== undefined && forwardedMethod !== undefined && originalMethod !== forwardedMethod)
    return { problem: 'X-Original-Method and X-Forwarded-Method name different methods' };
  const described = (originalUri ?? forwardedUri) as string | undefined;
  // Envoy's shape: the original path follows the prefix (`/.auth/verify/admin?x`); `/.auth/verify?x` is no path.
  const appended = tail.startsWith('/') ? tail : undefined;
  if (described !== undefined && appended !== undefined)
    return { problem: `the original request is named twice: in ${VERIFY_PATH}'s path and in a header` };
  if (tail !== '' && appended === undefined && !tail.startsWith('?'))
    return { problem: `${path} is not ${VERIFY_PATH}` };
  const url = described ?? appended;
  if (url === undefined)
    return {
      problem: 'the original request is not described: send X-Original-URI (nginx) or X-Forwarded-Uri (Traefik, Caddy)',
    };
  if (!ORIGIN_FORM.test(url))
    return {
      problem: `${JSON.stringify(url.slice(0, 100))} is not a path: send the path and query, and the host in X-Forwarded-Host`,
    };
  const host = ((forwardedHost as string | undefined) ?? (hostHeader as string | undefined) ?? '').toLowerCase();
  if (!HOST.test(host))
    return {
      problem: `${JSON.stringify(host.slice(0, 100))} is not a host: send the app's host in X-Forwarded-Host or Host`,
    };
  const method = originalMethod ?? forwardedMethod ?? request.method;
  if (!HTTP_TOKEN.test(method)) return { problem: `${JSON.stringify(method.slice(0, 20))} is not a method` };
  return { host, url, method, redirects: originalUri === undefined };
}
