// signonce/verify, as an app backend uses it (imported through the package's export): tokens from a
// real gateway verified against its published keys; the principal header read; Express and Fastify
// middleware in real servers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { fetch as undiciFetch } from 'undici';
import {
  TokenRefused,
  createVerifier,
  expressAuthentication,
  fastifyAuthentication,
  parseClientPrincipal,
  verifyAuthenticationToken,
} from 'signonce/verify';
import { startTestGateway, type Echo, type TestGateway } from '../support/gateway.ts';
import { UserAgent, loopback } from '../support/user-agent.ts';
import { nativeDevSignIn } from '../support/sign-in.ts';
import { freePort } from '../support/ports.ts';
import { tamperedSignature } from '../support/tokens.ts';

// Node's fetch cannot reach *.localhost by itself: the keys are fetched through the loopback resolver.
const fetchLocal = ((input: string | URL, init?: object) =>
  undiciFetch(input, { ...init, dispatcher: loopback })) as unknown as typeof fetch;

describe('signonce/verify', () => {
  let gw: TestGateway;
  let issuer: string;
  let token: string;
  let principalHeader: string;

  before(async () => {
    gw = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      providers: [{ id: 'dev', type: 'dev' }],
      apps: [
        {
          id: 'api',
          hosts: [`api.localhost:${port}`],
          upstream,
          defaultProvider: 'dev',
          allowedExternalRedirectUrls: ['myapp://cb'],
        },
      ],
    }));
    issuer = `http://auth.localhost:${gw.port}`;
    token = (
      await nativeDevSignIn(gw.url('api.localhost', ''), 'myapp://cb', { user_id: 'olga@example.com', roles: 'admin' })
    ).authenticationToken;
    const echo = (await (
      await new UserAgent().request(gw.url('api.localhost', '/'), { headers: { 'x-zumo-auth': token } })
    ).json()) as Echo;
    principalHeader = String(echo.headers['x-ms-client-principal']);
  });
  after(() => gw?.close());

  test('a token verifies for its audience against the published keys; others are refused with a reason', async () => {
    const claims = await verifyAuthenticationToken(token, { issuer, audience: 'api', fetch: fetchLocal });
    assert.equal(claims.aud, 'api');
    assert.equal(claims.idp, 'dev');
    const refused = async (promise: Promise<unknown>, reason: string) =>
      assert.rejects(promise, (e: unknown) => e instanceof TokenRefused && e.reason === reason);
    await refused(verifyAuthenticationToken(token, { issuer, audience: 'other', fetch: fetchLocal }), 'wrong-audience');
    await refused(
      verifyAuthenticationToken(token, {
        issuer: 'http://evil.localhost',
        jwksUri: `${issuer}/.well-known/jwks.json`,
        audience: 'api',
        fetch: fetchLocal,
      }),
      'wrong-issuer',
    );
    await refused(
      verifyAuthenticationToken(tamperedSignature(token), { issuer, audience: 'api', fetch: fetchLocal }),
      'bad-signature',
    );
    const [, payload] = token.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'signonce-auth+jwt', kid: 'x' })).toString('base64url')}.${payload}.`;
    await refused(verifyAuthenticationToken(none, { issuer, audience: 'api', fetch: fetchLocal }), 'wrong-algorithm');
  });

  test('keys that cannot be fetched are an error of their own, not a refused token', async () => {
    const dead = await freePort();
    await assert.rejects(
      verifyAuthenticationToken(token, { issuer, jwksUri: `http://127.0.0.1:${dead}/jwks.json`, audience: 'api' }),
      (e: unknown) => !(e instanceof TokenRefused),
    );
  });

  test('parseClientPrincipal reads the header SignOnce sends, and nothing malformed', () => {
    const principal = parseClientPrincipal(principalHeader)!;
    assert.equal(principal.auth_typ, 'dev');
    assert.ok(principal.claims.some((c) => c.val === 'olga@example.com'));
    const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');
    const base = { auth_typ: 'x', claims: [{ typ: 't', val: 'v' }], name_typ: 'n', role_typ: 'r' };
    for (const bad of [
      undefined,
      '',
      'not base64 json!',
      b64('null'),
      b64('[]'),
      b64({ ...base, claims: 'x' }),
      b64({ ...base, claims: [{ typ: 't', val: 1 }] }),
      b64({ ...base, auth_typ: 1 }),
      b64({ ...base, name_typ: undefined }),
      'A'.repeat(70_000),
    ]) {
      assert.equal(parseClientPrincipal(bad), undefined, String(bad).slice(0, 40));
    }
    assert.deepEqual(
      parseClientPrincipal(b64({ ...base, extra: 'dropped', claims: [{ typ: 't', val: 'v', more: 1 }] })),
      base,
    );
  });

  test('Express and Fastify middleware: the claims on the request, 401 without or with a refused token', async () => {
    const options = { issuer, audience: 'api', fetch: fetchLocal };
    const expressApp = express();
    expressApp.use(expressAuthentication(options));
    expressApp.get('/me', (request, response) => {
      response.json({ sub: (request as unknown as { user: { sub: string } }).user.sub });
    });
    const expressServer = expressApp.listen(0, '127.0.0.1');
    await new Promise((resolve) => expressServer.once('listening', resolve));
    const fastifyApp = Fastify();
    fastifyApp.addHook('onRequest', fastifyAuthentication(options));
    fastifyApp.get('/me', async (request) => ({ sub: (request as unknown as { user: { sub: string } }).user.sub }));
    await fastifyApp.listen({ port: 0, host: '127.0.0.1' });
    try {
      const sub = (await createVerifier(options)(token)).sub;
      for (const base of [
        `http://127.0.0.1:${(expressServer.address() as AddressInfo).port}`,
        `http://127.0.0.1:${(fastifyApp.server.address() as AddressInfo).port}`,
      ]) {
        const ok = await fetch(`${base}/me`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(ok.status, 200, base);
        assert.deepEqual(await ok.json(), { sub });
        assert.equal((await fetch(`${base}/me`, { headers: { 'x-zumo-auth': token } })).status, 200);
        assert.equal((await fetch(`${base}/me`)).status, 401);
        const refused = await fetch(`${base}/me`, { headers: { 'x-zumo-auth': `${token}x` } });
        assert.equal(refused.status, 401);
        assert.equal(((await refused.json()) as { reason: string }).reason, 'bad-signature');
      }
    } finally {
      await new Promise((resolve) => expressServer.close(resolve));
      await fastifyApp.close();
    }
  });
});
