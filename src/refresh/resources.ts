// Tokens for other resources (APIs) than the sign-in's own, got with the sign-in's refresh token:
// named by an RFC 8707 resource indicator, by scopes, or both (`apps[].resources`).
import type { AppResource, Config } from '../config/index.ts';

/** Which token to ask the provider for, and the key it is stored under (`TokenRef.resource`). */
export interface ResourceTarget {
  /** Never '' (the sign-in's own tokens): the indicator and the scopes, so two apps asking for the same token share it. */
  readonly key: string;
  readonly resource?: string;
  readonly scopes: readonly string[];
}

export function resourceTarget({ resource, scopes }: Pick<AppResource, 'resource' | 'scopes'>): ResourceTarget {
  const sorted = [...new Set<string>(scopes)].sort();
  return { key: [resource ?? '', ...sorted].join(' ').trim(), ...(resource ? { resource } : {}), scopes: sorted };
}

/**
 * The resource indicators a sign-in with `providerId` names (RFC 8707 section 2.1), so that the
 * grant covers every resource any app will ask a token for: providers such as oidc-provider give
 * tokens at the refresh only for resources named at the authorization.
 */
export function signInResources(config: Pick<Config, 'apps'>, providerId: string): string[] {
  return [...new Set(config.apps.flatMap((app) => app.resources)
    .filter((r) => r.provider === providerId && r.resource !== undefined).map((r) => r.resource!))];
}
