// What the account page and the admin console show of an account: its identities, live sessions
// (with the device their User-Agent names), the provider tokens SignOnce keeps (metadata only,
// never a token) and its OpenID grants. One reading for both pages.
import { deviceOf } from '../session/device.ts';
import { ACCOUNT_PAGE_APP, ADMIN_APP } from '../session/codes.ts';
import type { Session, Store } from '../store/index.ts';
import type { AccountGrantView, AccountIdentityView, AccountSessionView, AccountTokensView } from './account-page.ts';
import type { GatewayContext } from './context.ts';

export interface AccountFacts {
  readonly identities: readonly AccountIdentityView[];
  readonly sessions: readonly AccountSessionView[];
  readonly tokens: readonly AccountTokensView[];
  readonly grants: readonly AccountGrantView[];
}

/** A provider's display name (its id when it is no longer configured). */
export const providerName = (ctx: Pick<GatewayContext, 'providers'>, id: string) =>
  ctx.providers.get(id)?.displayName ?? id;

/** The account's sessions still live (ended ones are history, not "where I am signed in"). */
export async function liveSessions(store: Store, accountId: string): Promise<Session[]> {
  const now = Date.now();
  return (await store.listAccountSessions(accountId)).filter((s) => s.expiresAt > now);
}

/** How the pages name the app a session signed in to. */
function appName(app: unknown): string {
  if (app === ACCOUNT_PAGE_APP) return 'the account page';
  if (app === ADMIN_APP) return 'the admin console';
  if (app === 'oidc') return 'an OpenID client';
  return typeof app === 'string' ? app : 'unknown';
}

/** The account's identities as the pages show them (one store read; the admin's search needs no more). */
export async function identityViews(ctx: GatewayContext, accountId: string): Promise<AccountIdentityView[]> {
  return (await ctx.accounts.identities(accountId)).map((i) => ({
    provider: i.provider,
    providerName: providerName(ctx, i.provider),
    subject: i.subject,
    name: typeof i.profile?.name === 'string' && i.profile.name ? i.profile.name : i.subject,
    linkedAt: i.createdAt,
  }));
}

/** The account's facts; `currentRef` marks the session of the browser asking. */
export async function accountFacts(ctx: GatewayContext, accountId: string, currentRef?: string): Promise<AccountFacts> {
  const { store } = ctx;
  return {
    identities: await identityViews(ctx, accountId),
    sessions: (await liveSessions(store, accountId))
      .sort((a, b) => b.lastSeenAt - a.lastSeenAt)
      .map((s) => {
        const device = deviceOf(s.userAgent);
        return {
          ref: s.ref,
          device: `${device.browser} on ${device.os}`,
          address: s.address,
          app: appName(s.data.app),
          createdAt: s.createdAt,
          lastSeenAt: s.lastSeenAt,
          current: s.ref === currentRef,
        };
      }),
    tokens: (await store.listTokens(accountId)).map((t) => ({
      provider: t.provider,
      providerName: providerName(ctx, t.provider),
      resource: t.resource,
      scope: t.tokens.scope,
      updatedAt: t.updatedAt,
      expiresAt: t.tokens.expiresAt,
      refreshable: t.tokens.refreshToken !== undefined,
    })),
    grants: (await store.listOidcArtifactsOfAccount('Grant', accountId)).map((g) => ({
      id: String(g.jti),
      client: String(g.clientId),
      scope: String((g.openid as { scope?: string } | undefined)?.scope ?? ''),
      expiresAt: typeof g.exp === 'number' ? g.exp * 1000 : undefined,
    })),
  };
}
