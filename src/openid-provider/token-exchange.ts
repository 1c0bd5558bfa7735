// On-behalf-of: RFC 8693 token exchange at the OpenID Provider's token endpoint. A service
// (a confidential client with `grants: [token_exchange]`) holding a user's access token for app A
// gets one for app B, which must list A in `acceptTokensFrom`: the user stays the subject, the
// service is named as the actor (section 4.1), scopes only narrow, and the new token ends no
// later than the one it came from.
import { errors, type ResourceServer, type TokenEndpointGrantContext } from 'oidc-provider';
import type { AppConfig } from '../config/index.ts';
import { TokenRefused } from '../session/authentication-tokens.ts';
import type { Actor, AppAccessClaims, AppAccessTokenVerifier } from '../session/app-access-tokens.ts';
import { appOfResource } from './resources.ts';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 section 3: the only token type exchanged here, both ways. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** The token endpoint parameters of the grant (RFC 8693 section 2.1). */
export const TOKEN_EXCHANGE_PARAMETERS = [
  'subject_token',
  'subject_token_type',
  'actor_token',
  'actor_token_type',
  'requested_token_type',
  'resource',
  'audience',
  'scope',
] as const;

type ExchangeParameters = Partial<Record<(typeof TOKEN_EXCHANGE_PARAMETERS)[number], string>>;

export interface ExchangeRequest {
  /** The exchanging client and the apps it may get tokens for (`clients[].resources`). */
  readonly client: { readonly id: string; readonly resources: readonly string[] };
  readonly resource?: string;
  readonly audience?: string;
  /** Space-separated, as sent. */
  readonly scope?: string;
  /** The verified subject token. */
  readonly subject: AppAccessClaims;
  readonly apps: readonly AppConfig[];
  /** publicUrl's scheme (`https:`), the scheme of every app URL. */
  readonly scheme: string;
  /** Seconds since the epoch. */
  readonly now: number;
  /** The longest an access token lives (seconds). */
  readonly maxLifetime: number;
}

export interface Exchange {
  readonly app: AppConfig;
  readonly scopes: readonly string[];
  readonly act: Actor;
  /** Seconds. */
  readonly lifetime: number;
}

/**
 * The token an exchange gives, or oidc-provider's error for the answer RFC 8693 section 2.2.2
 * asks: `invalid_target` for an app that cannot be named or does not accept the subject token's
 * app, `invalid_scope` for scopes the subject token does not have, `invalid_request` for a
 * subject token past its end.
 */
export function decideExchange(request: ExchangeRequest): Exchange {
  const { client, subject, apps } = request;
  const named = [
    request.resource === undefined
      ? undefined
      : [request.resource, appOfResource(request.resource, apps, request.scheme)],
    request.audience === undefined ? undefined : [request.audience, apps.find((app) => app.id === request.audience)],
  ].filter((pair): pair is [string, AppConfig | undefined] => pair !== undefined);
  if (named.length === 0)
    throw new errors.InvalidTarget('name the app the token is for: resource (one of its URLs) or audience (its id)');
  const unknown = named.find(([, app]) => app === undefined);
  if (unknown) throw new errors.InvalidTarget(`${JSON.stringify(unknown[0])} is not an app of this SignOnce`);
  const app = named[0]![1]!;
  if (named.some(([, other]) => other !== app))
    throw new errors.InvalidTarget('resource and audience name different apps: name one');
  if (!client.resources.includes(app.id))
    throw new errors.InvalidTarget(`client ${client.id} may not get tokens for app "${app.id}" (its resources)`);
  // The actor is a service of the app the user's token is for (RFC 8693 section 1.1: the authorisation
  // server decides who may act): a token for app A in the hands of a client that does not serve A is
  // not the client's to exchange.
  if (!client.resources.includes(subject.aud))
    throw new errors.InvalidGrant(
      `client ${client.id} does not serve app "${subject.aud}" (its resources), whose token it presents`,
    );
  if (app.id !== subject.aud && !app.acceptTokensFrom.includes(subject.aud))
    throw new errors.InvalidTarget(`app "${app.id}" does not accept tokens of app "${subject.aud}" (acceptTokensFrom)`);

  const held = new Set(subject.scope?.split(' ') ?? []);
  const scopes =
    request.scope === undefined
      ? app.scopes.filter((scope) => held.has(scope))
      : request.scope.split(' ').filter(Boolean);
  const unheld = scopes.filter((scope) => !held.has(scope));
  if (unheld.length > 0)
    throw new errors.InvalidScope(
      `the subject token does not have ${unheld.join(' ')}: scopes only narrow`,
      unheld.join(' '),
    );
  const foreign = scopes.filter((scope) => !app.scopes.includes(scope));
  if (foreign.length > 0)
    throw new errors.InvalidScope(`${foreign.join(' ')} is not a scope of app "${app.id}"`, foreign.join(' '));

  const remaining = subject.exp - request.now;
  if (remaining <= 0) throw new errors.InvalidRequest('the subject token has expired');
  return {
    app,
    scopes,
    // A token that was itself exchanged keeps its chain of actors, the latest outermost.
    act: subject.act ? { sub: client.id, act: subject.act } : { sub: client.id },
    lifetime: Math.min(request.maxLifetime, remaining),
  };
}

export interface TokenExchangeDeps {
  readonly apps: readonly AppConfig[];
  readonly scheme: string;
  readonly verifier: AppAccessTokenVerifier;
  /** The apps each client may get tokens for, by client id. */
  readonly resourcesOf: (clientId: string) => readonly string[];
  /** Why the account may not be acted for through this client (disabled, or the client's access rules), or undefined. */
  readonly refusal: (clientId: string, accountId: string) => Promise<string | undefined>;
  /** What oidc-provider issues an app's tokens with (its resource server information). */
  readonly resourceServerInfo: (app: AppConfig) => ResourceServer;
  /** Remembers the actor of a token being issued (the provider's extraTokenClaims puts it in the token). */
  readonly setActor: (token: object, act: Actor) => void;
  readonly maxLifetime: number;
}

/** The grant's handler, for oidc-provider's registerGrantType. */
export function tokenExchangeHandler(deps: TokenExchangeDeps) {
  return async (ctx: TokenEndpointGrantContext<ExchangeParameters>): Promise<void> => {
    const { provider, client, params } = ctx.oidc;
    if (!params.subject_token) throw new errors.InvalidRequest('missing required parameter subject_token');
    if (params.subject_token_type !== ACCESS_TOKEN_TYPE)
      throw new errors.InvalidRequest(
        `subject_token_type must be ${ACCESS_TOKEN_TYPE} (an access token of this provider)`,
      );
    if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE)
      throw new errors.InvalidRequest(`requested_token_type can only be ${ACCESS_TOKEN_TYPE}`);
    if (params.actor_token !== undefined || params.actor_token_type !== undefined)
      throw new errors.InvalidRequest('actor_token is not accepted: the authenticated client is the actor');

    let subject: AppAccessClaims;
    try {
      subject = await deps.verifier.verify(
        params.subject_token,
        deps.apps.map((app) => app.id),
      );
    } catch (error) {
      if (error instanceof TokenRefused) throw new errors.InvalidRequest(`subject_token refused: ${error.message}`);
      throw error;
    }
    // RFC 9068 section 2.2: a client's own token has the client as its subject, and no user to act for.
    if (subject.sub === subject.client_id)
      throw new errors.InvalidRequest(
        "subject_token refused: a client's own token (client_credentials) acts for no user",
      );
    const refused = await deps.refusal(client.clientId, subject.sub);
    if (refused) throw new errors.InvalidGrant(`the user cannot be acted for: ${refused}`);

    const exchange = decideExchange({
      client: { id: client.clientId, resources: deps.resourcesOf(client.clientId) },
      ...(params.resource === undefined ? {} : { resource: params.resource }),
      ...(params.audience === undefined ? {} : { audience: params.audience }),
      ...(params.scope === undefined ? {} : { scope: params.scope }),
      subject,
      apps: deps.apps,
      scheme: deps.scheme,
      now: Math.floor(Date.now() / 1000),
      maxLifetime: deps.maxLifetime,
    });
    const scope = exchange.scopes.join(' ') || undefined;
    const token = new provider.AccessToken({
      accountId: subject.sub,
      client,
      gty: TOKEN_EXCHANGE_GRANT,
      scope,
      expiresIn: exchange.lifetime,
      resourceServer: new provider.ResourceServer(
        params.resource ?? exchange.app.id,
        deps.resourceServerInfo(exchange.app),
      ),
    } as never);
    deps.setActor(token, exchange.act);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: token.tokenType,
      expires_in: exchange.lifetime,
      ...(scope ? { scope } : {}),
    };
  };
}
