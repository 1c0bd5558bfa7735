// Providers built from the configuration: presets resolved to their base type, one Provider each.
import type { Config, ProviderConfig } from '../config/index.ts';
import { appleClientSecret, appleUserClaims } from './apple.ts';
import { DevProvider } from './dev.ts';
import { OAuth1Provider } from './oauth1.ts';
import { OAuth2Provider, type OAuth2Settings } from './oauth2.ts';
import { OidcProvider } from './oidc.ts';
import { PasswordProvider, type PasswordSettings } from './password.ts';
import { PRESETS } from './presets.ts';
import type { Provider } from './types.ts';

export * from './types.ts';
export { PasswordProvider, passwordProviderNamed } from './password.ts';
export { NAME_CLAIM_TYPE, ROLE_CLAIM_TYPE } from './claims.ts';
export { rememberReceived, singleUseTokens } from './single-use.ts';

/** The provider's config with its preset's fields filled in (config fields win). */
function resolvePreset(config: ProviderConfig): { base: string; displayName: string; fields: Record<string, unknown> } {
  const preset = PRESETS[config.type];
  const displayName = config.displayName ?? preset?.displayName ?? config.id;
  if (!preset) return { base: config.type, displayName, fields: { ...config } };
  const given = Object.fromEntries(Object.entries(config).filter(([, value]) => value !== undefined));
  return { base: preset.base, displayName, fields: { ...preset.fields, ...given } };
}

/** The provider of `config`; its sign-ins name `resources` (RFC 8707 indicators). */
export function createProvider(config: ProviderConfig, resources: readonly string[] = []): Provider {
  const { base, displayName, fields } = resolvePreset(config);
  switch (base) {
    case 'oidc': {
      const apple = config.type === 'apple' ? config : undefined;
      const issuer = fields.issuer as string;
      return new OidcProvider({
        id: config.id,
        type: config.type,
        displayName,
        issuer,
        clientId: fields.clientId as string,
        clientSecret: apple
          ? appleClientSecret({ ...apple, audience: issuer })
          : (fields.clientSecret as string | undefined),
        scopes: (fields.scopes as string[] | undefined) ?? ['openid', 'profile', 'email'],
        authorizationParams: fields.authorizationParams as Record<string, string> | undefined,
        resources,
        graphUrl: fields.graphUrl as string | undefined,
        mfaAcrValues: fields.mfaAcrValues as string[] | undefined,
        ...(apple ? { callbackClaims: appleUserClaims } : {}),
      });
    }
    case 'oauth2':
      return new OAuth2Provider({
        id: config.id,
        type: config.type,
        displayName,
        authorizationUrl: fields.authorizationUrl as string,
        tokenUrl: fields.tokenUrl as string,
        userinfoUrl: fields.userinfoUrl as string | undefined,
        clientId: fields.clientId as string,
        clientSecret: fields.clientSecret as string | undefined,
        scopes: (fields.scopes as string[] | undefined) ?? [],
        claims: fields.claims as OAuth2Settings['claims'],
        authorizationParams: fields.authorizationParams as Record<string, string> | undefined,
        resources,
        orgsUrl: fields.orgsUrl as string | undefined,
        teamsUrl: fields.teamsUrl as string | undefined,
      });
    case 'oauth1':
      return new OAuth1Provider({
        id: config.id,
        type: config.type,
        displayName,
        requestTokenUrl: fields.requestTokenUrl as string,
        authorizeUrl: fields.authorizeUrl as string,
        accessTokenUrl: fields.accessTokenUrl as string,
        userinfoUrl: fields.userinfoUrl as string | undefined,
        consumerKey: fields.consumerKey as string,
        consumerSecret: fields.consumerSecret as string | undefined,
      });
    case 'dev':
      return new DevProvider(config.id);
    case 'password':
      return new PasswordProvider({
        id: config.id,
        displayName: config.displayName ?? 'Username and password',
        allowRegistration: fields.allowRegistration as boolean,
        minLength: fields.minLength as number,
        mfa: fields.mfa as PasswordSettings['mfa'],
      });
    default:
      throw new Error(
        `providers: "${config.id}" has type ${config.type}, whose sign-in is not implemented in this version of SignOnce yet (available: oidc, oauth2, oauth1, dev, and the presets google, aad, microsoftaccount, apple, facebook, github, twitter)`,
      );
  }
}

/**
 * The resource indicators a sign-in with `providerId` names (RFC 8707 section 2.1), so that the
 * grant covers every resource any app will ask a token for: providers such as oidc-provider give
 * tokens at the refresh only for resources named at the authorization.
 */
export function signInResources(config: Pick<Config, 'apps'>, providerId: string): string[] {
  return [
    ...new Set(
      config.apps
        .flatMap((app) => app.resources)
        .filter((r) => r.provider === providerId && r.resource !== undefined)
        .map((r) => r.resource!),
    ),
  ];
}

export function createProviders(config: Pick<Config, 'providers' | 'apps'>): Map<string, Provider> {
  return new Map(
    config.providers.map((provider) => [provider.id, createProvider(provider, signInResources(config, provider.id))]),
  );
}
