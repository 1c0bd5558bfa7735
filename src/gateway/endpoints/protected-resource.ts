// GET /.well-known/oauth-protected-resource on an app host: the app as an OAuth protected resource
// (RFC 9728), so that a client holding no token yet finds the authorization servers whose access
// tokens the app takes; the app's 401s point here (resource_metadata, RFC 9728 section 5.1).
import type { FastifyReply } from 'fastify';
import type { AppConfig } from '../../config/index.ts';
import type { GatewayContext } from '../context.ts';

export const PROTECTED_RESOURCE_PATH = '/.well-known/oauth-protected-resource';

/**
 * The issuers whose access tokens the app takes: its acceptProviderTokens providers', and
 * SignOnce's own OpenID Provider's (publicUrl) when it runs (`clients`).
 */
export function authorizationServers(ctx: GatewayContext, appConfig: AppConfig): string[] {
  const issuers = appConfig.acceptProviderTokens.flatMap(
    ({ provider }) => ctx.providers.get(provider)?.signing?.issuer ?? [],
  );
  if (ctx.config.clients.length > 0) issuers.push(ctx.config.publicUrl);
  return [...new Set(issuers)];
}

/** Where the app's metadata is on `host`, for its 401s; undefined when it names no authorization server. */
export function resourceMetadataUrl(ctx: GatewayContext, appConfig: AppConfig, host: string): string | undefined {
  return authorizationServers(ctx, appConfig).length > 0 ? ctx.appUrl(host, PROTECTED_RESOURCE_PATH) : undefined;
}

/**
 * The metadata (RFC 9728 section 2): `resource` is the app's URL on the host asked (section 3.3:
 * the identifier the metadata was fetched for), tokens are taken in the Authorization header only;
 * no authorization_servers when there are none.
 */
export function protectedResource(ctx: GatewayContext, reply: FastifyReply, appConfig: AppConfig, host: string) {
  const servers = authorizationServers(ctx, appConfig);
  return reply.header('cache-control', 'public, max-age=300').send({
    resource: ctx.appUrl(host, ''),
    ...(servers.length > 0 && { authorization_servers: servers }),
    bearer_methods_supported: ['header'],
    resource_name: appConfig.id,
  });
}
