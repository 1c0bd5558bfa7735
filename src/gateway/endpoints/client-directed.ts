// POST /.auth/login/{provider} on app hosts with the tokens a native app got from the provider's
// own SDK (Easy Auth's client-directed sign-in): checked with the provider, then a session and an
// authentication token for this app, `{"authenticationToken", "user": {"userId"}}`.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../../config/index.ts';
import { ProviderError, type SignInResult } from '../../providers/index.ts';
import { signInHappened } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { sendError } from '../errors.ts';
import { readJsonObject } from '../http.ts';

const CLIENT_TOKENS_LIMIT_BYTES = 64 * 1024;

export async function clientDirectedLogin(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  appConfig: AppConfig,
  providerId: string,
) {
  const provider = ctx.signInProvider(appConfig, providerId);
  if (!provider) return sendError(reply, 404, { error: `there is no provider "${providerId}"` });
  if (!provider.signInWithTokens) {
    return sendError(reply, 400, {
      error: `provider "${providerId}" does not take client-directed sign-in: its tokens cannot prove they were issued to this app; use GET /.auth/login/${providerId}`,
    });
  }
  if (!/^application\/json\b/i.test(request.headers['content-type'] ?? ''))
    return sendError(reply, 415, { error: 'send the provider tokens as application/json' });
  const parsed = await readJsonObject(request.raw, CLIENT_TOKENS_LIMIT_BYTES);
  const fields = ['id_token', 'access_token', 'access_token_secret'] as const;
  if (!parsed || !fields.some((field) => typeof parsed[field] === 'string')) {
    return sendError(reply, 400, {
      error:
        'the body must be JSON with the provider tokens: {"id_token": …} (OpenID Connect, optionally with "access_token"), or {"access_token": …, "access_token_secret": …} (OAuth 1.0a)',
    });
  }
  const tokens = Object.fromEntries(
    fields.flatMap((field) => {
      const value = parsed[field];
      return typeof value === 'string' ? [[field, value]] : [];
    }),
  );
  let result: SignInResult;
  try {
    result = await provider.signInWithTokens(tokens);
  } catch (error) {
    const failure = ProviderError.from(error);
    await signInHappened(
      ctx,
      request,
      {
        provider: provider.id,
        outcome: 'failed',
        method: 'client-directed',
        app: appConfig.id,
        failure: failure.kind,
        reason: failure.message,
      },
      'client-directed sign-in refused',
    );
    // Unlike a browser's sign-in (a page, sign-in.ts providerFailure), the caller is an app: JSON
    // naming the provider, 401 for tokens refused, 502 for a provider that could not say.
    return failure.kind === 'denied'
      ? sendError(reply, 401, { error: 'the provider tokens are not accepted', reason: failure.message })
      : sendError(reply, 502, { error: `${provider.displayName} could not check the tokens`, reason: failure.message });
  }
  // Each ID token or OAuth 1.0a token signs in once (src/providers/single-use.ts): one an app
  // received from SignOnce, or one already used, is refused (RFC 9700 section 4.6; CWE-294).
  const used = await ctx.signInCompletion.usedBefore(result.tokens);
  if (used) {
    await signInHappened(
      ctx,
      request,
      {
        provider: provider.id,
        outcome: 'refused',
        method: 'client-directed',
        app: appConfig.id,
        reason: `${used.kind} used before or received by SignOnce itself`,
      },
      'client-directed sign-in refused: the token was used before or received by SignOnce itself',
    );
    return sendError(reply, 401, {
      error: 'the provider tokens are not accepted',
      reason: `${used.kind === 'id_token' ? 'id_token' : 'access_token'} already used`,
    });
  }
  const { session } = await ctx.signInCompletion.establishSession(
    provider,
    result,
    appConfig.id,
    ctx.clientDeviceOf(request.raw),
  );
  const authenticationToken = await ctx.authenticationTokens.issue(session, appConfig.id, provider.id);
  await signInHappened(
    ctx,
    request,
    {
      provider: provider.id,
      outcome: 'success',
      method: 'client-directed',
      account: session.accountId,
      app: appConfig.id,
    },
    'signed in (client-directed)',
  );
  return reply.header('cache-control', 'no-store').send({ authenticationToken, user: { userId: session.accountId } });
}
