// A real OpenID Provider on loopback (oidc-provider, certified), with its development login and
// consent pages: any user name signs in.
import { freePort } from './ports.ts';
import { createServer as createHttpServer } from 'node:http';
import Provider from 'oidc-provider';

export interface TestIdp {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  close(): Promise<void>;
}

/** Starts a provider; pass `previous` to start again on its port (to change the redirect URIs). */
export async function startOidcProvider(redirectUris: string[], previous?: TestIdp): Promise<TestIdp> {
  const port = previous ? Number(new URL(previous.issuer).port) : await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = 'signonce-test';
  const clientSecret = 'test-client-secret-0123456789abcdef';
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId, client_secret: clientSecret, redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post',
    }],
    async findAccount(_ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, email: `${id}@example.com`, email_verified: true, name: `${id[0]!.toUpperCase()}${id.slice(1)} Example`, given_name: id };
        },
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'given_name'] },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    pkce: { required: () => true },
    cookies: { keys: ['test-cookie-key'] },
    issueRefreshToken: async () => true,
  });
  // Beside the authorization server, a GitHub-style API for plain OAuth 2 clients: GET /api/user
  // with the access token answers the user's profile.
  const handle = provider.callback();
  const server = createHttpServer(async (request, response) => {
    if (request.url !== '/api/user') return handle(request, response);
    const token = await provider.AccessToken.find(request.headers.authorization?.replace(/^Bearer /, '') ?? '');
    if (!token) return void response.writeHead(401).end();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ id: 4200 + token.accountId.length, login: token.accountId, email: `${token.accountId}@example.com`, site_admin: false }));
  });
  server.listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { issuer, clientId, clientSecret, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
