import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { createLogger, loggableUrl, requestLogger } from '../../src/log/logger.ts';

test('loggableUrl keeps the path and parameter names, never values', () => {
  const cases: Array<[string, string]> = [
    ['/healthz', '/healthz'],
    [
      '/.auth/login/google/callback?code=SECRET&state=S2',
      '/.auth/login/google/callback?code=[Redacted]&state=[Redacted]',
    ],
    ['/x?access_token=SECRET', '/x?access_token=[Redacted]'],
    ['/x?flag', '/x?flag=[Redacted]'],
    ['/x?=SECRET&&a==SECRET', '/x?=[Redacted]&a=[Redacted]'],
    ['/x?', '/x?'],
    ['/x?a=1?b=SECRET', '/x?a=[Redacted]'],
  ];
  for (const [url, expected] of cases) assert.equal(loggableUrl(url), expected, url);
});

test('a served request with credentials everywhere leaves none of them in the log', async () => {
  let output = '';
  const destination = new Writable({
    write(chunk, _e, done) {
      output += String(chunk);
      done();
    },
  });
  const logger = createLogger({ level: 'trace', destination });
  const app = Fastify({ loggerInstance: logger });
  app.get('/echo', async (request) => {
    // What later code might carelessly log: provider tokens, a client secret, request headers.
    request.log.info(
      {
        accessToken: 'SECRET-access',
        tokens: { refreshToken: 'SECRET-refresh', idToken: 'SECRET-id' },
        provider: { clientSecret: 'SECRET-client' },
        password: 'SECRET-password',
        headers: request.headers,
      },
      'handled',
    );
    return { ok: true };
  });
  const response = await app.inject({
    url: '/echo?code=SECRET-code&id_token=SECRET-query',
    headers: {
      authorization: 'Bearer SECRET-bearer',
      cookie: 'AppServiceAuthSession=SECRET-cookie',
      'x-zumo-auth': 'SECRET-zumo',
    },
  });
  assert.equal(response.statusCode, 200);
  await app.close();
  const lines = output
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.ok(
    lines.some((l) => l.msg === 'handled'),
    'the handler logged',
  );
  assert.ok(
    lines.some((l) => l.req?.url === '/echo?code=[Redacted]&id_token=[Redacted]'),
    'the request was logged',
  );
  assert.doesNotMatch(output, /SECRET/);
});

test('a request logger writes with its bindings, only at enabled levels, redacted like its parent', () => {
  let output = '';
  const destination = new Writable({
    write(chunk, _e, done) {
      output += String(chunk);
      done();
    },
  });
  const parent = createLogger({ level: 'warn', destination });
  const log = requestLogger(parent, { reqId: 'req-7' }, {});
  log.info('below the level');
  log.debug({ accessToken: 'SECRET' }, 'below the level');
  log.warn({ accessToken: 'SECRET-access' }, 'written');
  log.child({ app: 'app1' }).error('from a child');
  requestLogger(parent, { reqId: 'req-8' }, { level: 'info' }).info('a route with its own level');
  const lines = output
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.deepEqual(
    lines.map((l) => [l.reqId, l.app, l.msg]),
    [
      ['req-7', undefined, 'written'],
      ['req-7', 'app1', 'from a child'],
      ['req-8', undefined, 'a route with its own level'],
    ],
  );
  assert.equal(lines[0].accessToken, '[Redacted]');
  assert.equal(lines[0].service, 'signonce');
  assert.equal(log.level, 'warn');
  assert.equal(log.isLevelEnabled('info'), false);
});
