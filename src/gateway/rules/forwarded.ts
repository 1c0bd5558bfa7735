// X-Forwarded-For/-Proto/-Host toward the app. A client can write these headers too, so the ones
// that arrive are believed only from a listed proxy (`trustedProxies`); from anyone else they are
// replaced. SignOnce itself never routes or authorises by them (it uses the Host header and the
// connection's address).
import { randomUUID } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

// Headers proxies use to describe the original request, which apps and frameworks believe.
const FORWARDING = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-forwarded-ssl',
  'x-real-ip',
]);
// The ones SignOnce always sets itself.
const SET_BY_SIGNONCE = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

/** Whether a client-sent header is dropped before proxying: all forwarding headers from an untrusted sender. */
export function dropsForwardingHeader(name: string, trusted: boolean): boolean {
  const lower = name.toLowerCase();
  return trusted ? SET_BY_SIGNONCE.has(lower) : FORWARDING.has(lower);
}

/** A matcher for `trustedProxies` entries: addresses (`10.0.0.1`) or networks (`10.0.0.0/8`, `fd00::/8`). */
export function trustedProxyMatcher(entries: readonly string[]): (address: string) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (address) => {
    const plain = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
    return isIP(plain) !== 0 && list.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * The forwarding headers to send upstream. From a trusted proxy the chain is extended and its
 * proto/host kept; from anyone else the client's are dropped and SignOnce's own are set.
 */
export function forwardedHeaders(request: {
  remoteAddress: string;
  trusted: boolean;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  proto: string;
  host: string;
}): Array<[string, string]> {
  const first = (name: string) => {
    const value = request.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const chain = request.trusted ? first('x-forwarded-for') : undefined;
  return [
    ['x-forwarded-for', chain ? `${chain}, ${request.remoteAddress}` : request.remoteAddress],
    ['x-forwarded-proto', (request.trusted && first('x-forwarded-proto')) || request.proto],
    ['x-forwarded-host', (request.trusted && first('x-forwarded-host')) || request.host],
  ];
}

/**
 * The headers of a request handed to the OpenID Provider. oidc-provider (Koa, `proxy` on) builds
 * every URL it names — discovery, redirects, DPoP `htu` — from X-Forwarded-Proto/-Host; its issuer
 * is publicUrl, fixed configuration, so those are always publicUrl's scheme and host, whoever sent
 * what, a trusted proxy included (a discovery document naming another host would send clients'
 * codes and tokens there: OpenID Connect Discovery 1.0 section 3, RFC 8414 section 3.3). Koa's
 * client address (X-Forwarded-For) is the one SignOnce determined; other forwarding headers go.
 */
export function openIdProviderHeaders(
  headers: IncomingHttpHeaders,
  publicUrl: URL,
  clientAddress: string,
): IncomingHttpHeaders {
  const kept = Object.entries(headers).filter(([name]) => !FORWARDING.has(name.toLowerCase()));
  return {
    ...Object.fromEntries(kept),
    'x-forwarded-proto': publicUrl.protocol.slice(0, -1),
    'x-forwarded-host': publicUrl.host,
    'x-forwarded-for': clientAddress,
  };
}

/**
 * The client's address (for throttling): the connection's, unless that is a trusted proxy; then
 * the rightmost X-Forwarded-For entry that is not a trusted proxy — entries to its left are the
 * client's to write. A chain that is not all addresses is not believed: the connection's address.
 */
export function clientAddress(
  remoteAddress: string,
  forwardedFor: string | string[] | undefined,
  trusted: (address: string) => boolean,
): string {
  if (!trusted(remoteAddress)) return remoteAddress;
  const chain = [forwardedFor ?? []]
    .flat()
    .join(',')
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
  if (chain.some((hop) => isIP(hop) === 0)) return remoteAddress;
  for (let i = chain.length - 1; i >= 0; i--) if (!trusted(chain[i]!)) return chain[i]!;
  return chain[0] ?? remoteAddress;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The id of a request, in every log line of it and sent to the app as X-Request-Id: the one a
 * trusted proxy sent (so a request can be followed through the load balancer), when it is a
 * plain token of at most 128 characters; otherwise a new one. A client's own never goes into logs.
 */
export function requestIdOf(request: IncomingMessage, fromTrustedProxy: (address: string) => boolean): string {
  const sent = request.headers['x-request-id'];
  return typeof sent === 'string' && REQUEST_ID.test(sent) && fromTrustedProxy(request.socket.remoteAddress ?? '')
    ? sent
    : randomUUID();
}
