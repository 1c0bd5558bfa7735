// Tokens for other resources (APIs) than the sign-in's own, got with the sign-in's refresh token:
// named by an RFC 8707 resource indicator, by scopes, or both (`apps[].resources`).
import type { AppResource } from '../config/index.ts';

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
