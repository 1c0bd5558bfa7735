// A small OAuth 1.0a provider on loopback, shaped like Twitter's classic API. It verifies every
// signature with the oauth-1.0a library (RFC 5849 section 3.4), refuses reused nonces and stale
// timestamps, and keeps request and access tokens in memory.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type OAuth from 'oauth-1.0a';
import { oauth1Client } from '../../src/providers/oauth1.ts';

export interface OAuth1Server {
  readonly url: string;
  readonly consumerKey: string;
  readonly consumerSecret: string;
  /** Requests refused for a bad signature, nonce or timestamp. */
  readonly refused: string[];
  /**
   * A new access token and secret for `user`, issued to this consumer as at the end of the
   * three-legged flow: what a native app of the consumer holds after signing in with the SDK.
   */
  issueTokens(user: string): { access_token: string; access_token_secret: string };
  close(): Promise<void>;
}

const random = () => randomBytes(16).toString('hex');

export async function startOAuth1Server(): Promise<OAuth1Server> {
  const consumerKey = 'test-consumer';
  const consumerSecret = 'test-consumer-secret';
  const oauth = oauth1Client(consumerKey, consumerSecret);
  const requestTokens = new Map<string, { secret: string; callback: string; verifier?: string; user?: string }>();
  const accessTokens = new Map<string, { secret: string; user: string }>();
  const issueTokens = (user: string) => {
    const token = `${user}-${random()}`;
    accessTokens.set(token, { secret: random(), user });
    return { access_token: token, access_token_secret: accessTokens.get(token)!.secret };
  };
  const nonces = new Set<string>();
  const refused: string[] = [];
  let base = '';

  /** The request's OAuth parameters when its signature verifies under `tokenSecret(token)`. */
  function verified(
    request: IncomingMessage,
    tokenSecret: (token: string | undefined) => string | undefined,
  ): Record<string, string> | undefined {
    const header = request.headers.authorization ?? '';
    const params: Record<string, string> = {};
    for (const [, name, value] of header.matchAll(/(\w+)="([^"]*)"/g)) params[name!] = decodeURIComponent(value!);
    const { oauth_signature: signature, ...signed } = params;
    const secret = tokenSecret(signed.oauth_token);
    const age = Math.abs(Date.now() / 1000 - Number(signed.oauth_timestamp));
    if (
      !header.startsWith('OAuth ') ||
      !signature ||
      secret === undefined ||
      signed.oauth_consumer_key !== consumerKey ||
      signed.oauth_signature_method !== 'HMAC-SHA1' ||
      !(age < 300) ||
      nonces.has(signed.oauth_nonce ?? '')
    )
      return undefined;
    const expected = oauth.getSignature(
      { url: `${base}${request.url}`, method: request.method!, data: {} },
      secret,
      signed as unknown as OAuth.Data,
    );
    if (expected.length !== signature.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature)))
      return undefined;
    nonces.add(signed.oauth_nonce!);
    return signed;
  }

  const server = createServer((request, response) => {
    const url = new URL(request.url!, base);
    const form = (body: Record<string, string>) => {
      response.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' });
      response.end(new URLSearchParams(body).toString());
    };
    const refuse = () => {
      refused.push(url.pathname);
      response.writeHead(401).end('bad signature');
    };

    if (request.method === 'POST' && url.pathname === '/oauth/request_token') {
      const p = verified(request, (token) => (token === undefined ? '' : undefined));
      if (!p?.oauth_callback) return refuse();
      const token = random();
      requestTokens.set(token, { secret: random(), callback: p.oauth_callback });
      return form({
        oauth_token: token,
        oauth_token_secret: requestTokens.get(token)!.secret,
        oauth_callback_confirmed: 'true',
      });
    }
    if (request.method === 'GET' && url.pathname === '/oauth/authenticate') {
      const token = url.searchParams.get('oauth_token') ?? '';
      if (!requestTokens.has(token)) return void response.writeHead(400).end('unknown request token');
      response.writeHead(200, { 'content-type': 'text/html' });
      return void response.end(`<!doctype html><title>Authorize</title><form method="get" action="/oauth/approve">
<input type="hidden" name="oauth_token" value="${token}"><input name="user" value="jack"><button type="submit">Authorize app</button></form>`);
    }
    if (request.method === 'GET' && url.pathname === '/oauth/approve') {
      const pending = requestTokens.get(url.searchParams.get('oauth_token') ?? '');
      if (!pending) return void response.writeHead(400).end('unknown request token');
      pending.verifier = random();
      pending.user = url.searchParams.get('user') ?? 'jack';
      const callback = new URL(pending.callback);
      callback.searchParams.set('oauth_token', url.searchParams.get('oauth_token')!);
      callback.searchParams.set('oauth_verifier', pending.verifier);
      return void response.writeHead(302, { location: callback.href }).end();
    }
    if (request.method === 'POST' && url.pathname === '/oauth/access_token') {
      const p = verified(request, (token) => requestTokens.get(token ?? '')?.secret);
      const pending = p && requestTokens.get(p.oauth_token!);
      if (!p || !pending?.verifier || p.oauth_verifier !== pending.verifier) return refuse();
      requestTokens.delete(p.oauth_token!);
      const { access_token: token, access_token_secret: secret } = issueTokens(pending.user!);
      return form({
        oauth_token: token,
        oauth_token_secret: secret,
        user_id: String(pending.user!.length * 1000),
        screen_name: pending.user!,
      });
    }
    if (request.method === 'GET' && url.pathname === '/1.1/account/verify_credentials.json') {
      const p = verified(request, (token) => accessTokens.get(token ?? '')?.secret);
      if (!p) return refuse();
      const { user } = accessTokens.get(p.oauth_token!)!;
      response.writeHead(200, { 'content-type': 'application/json' });
      return void response.end(
        JSON.stringify({
          id_str: String(user.length * 1000),
          screen_name: user,
          name: `${user} (test)`,
          email: url.searchParams.get('include_email') ? `${user}@example.com` : undefined,
        }),
      );
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    consumerKey,
    consumerSecret,
    refused,
    issueTokens,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
