// Signing out (single logout: apps of one SSO session share its server-side session), and, for
// apps with providerLogout, at the provider too (OpenID Connect RP-Initiated Logout 1.0).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../../config/index.ts';
import { consumeCode, issueCode } from '../../session/codes.ts';
import { setCookieHeader } from '../../session/cookies.ts';
import type { AuditOrigin } from '../../audit/audit-log.ts';
import { auditOrigin } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { page, queryParam, redirect } from '../http.ts';
import { errorPage, signedOutPage } from '../pages.ts';
import { checkRedirect } from '../rules/redirects.ts';
import type { Identified } from '../../session/signed-in.ts';
import type { Session } from '../../store/index.ts';

/** `afterEnd`: what else ends with an account's session (its OpenID Provider sessions). */
export function signOutRoutes(ctx: GatewayContext, afterEnd?: (accountId: string) => Promise<void>) {
  const { config, store, providers, secure, signedIn, log, appTarget, authUrl } = ctx;

  async function logout(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string) {
    const target = queryParam(request, 'post_logout_redirect_uri') ?? '/.auth/logout/complete';
    const decision = checkRedirect(target, appConfig.allowedExternalRedirectUrls);
    if (!decision.ok)
      return page(
        reply,
        400,
        errorPage('Sign-out refused', `post_logout_redirect_uri is not allowed here: ${decision.reason}.`),
      );
    // A token within the refresh grace could still be renewed: signing out with it ends it too.
    const current = await signedIn.identify(
      request,
      appConfig,
      host,
      config.session.tokenRefreshExtensionHours * 3_600_000,
    );
    let atProvider: string | undefined;
    if (current && !('refused' in current)) {
      // Asked before the tokens go: the ID token is the provider's hint of whom to sign out.
      atProvider = appConfig.providerLogout ? await providerLogoutUrl(current, host, decision.location) : undefined;
      await endSession(current.session, { app: appConfig.id, origin: auditOrigin(ctx, request) });
    }
    reply.header('set-cookie', setCookieHeader(config.session.cookieName, '', { secure, maxAgeSeconds: 0 }));
    return redirect(reply, atProvider ?? decision.location);
  }
  /**
   * Ends a session (single logout: every app and OpenID client sharing it) and, as Easy Auth
   * does, removes the user's provider tokens unless told to keep them.
   */
  async function endSession(
    session: Pick<Session, 'ref' | 'accountId'>,
    by: { readonly app: string; readonly origin?: AuditOrigin },
  ): Promise<void> {
    await store.revokeSessionByRef(session.ref);
    await ctx.audit.record({
      kind: 'sign-out',
      outcome: 'success',
      accountId: session.accountId,
      actor: session.accountId,
      app: by.app,
      ...by.origin,
    });
    if (!config.tokenStore.keepOnLogout) await store.deleteTokens(session.accountId);
    // Signed out here whatever happens there (a client's back-channel endpoint may be down).
    await afterEnd?.(session.accountId).catch((error: unknown) =>
      log.error({ err: error, account: session.accountId }, "could not end the account's OpenID sessions"),
    );
  }
  /**
   * The provider's end-session URL for this user, returning through the auth host (one
   * post-logout redirect URI to register per SignOnce, like the callback) to `target` on `host`.
   */
  async function providerLogoutUrl(current: Identified, host: string, target: string): Promise<string | undefined> {
    const provider = providers.get(current.user.provider);
    if (!provider?.endSessionUrl) return undefined;
    const stored = await store.getTokens({ accountId: current.session.accountId, provider: provider.id, resource: '' });
    const state = await issueCode(store, 'logout-return', { host, target });
    try {
      return await provider.endSessionUrl({
        idToken: stored?.tokens.idToken,
        postLogoutRedirectUri: authUrl('/.auth/logout/done'),
        state,
      });
    } catch (error) {
      log.warn(
        { provider: provider.id, err: error },
        'could not sign out at the provider (its end-session endpoint is unknown); signed out here only',
      );
      return undefined;
    }
  }
  /** Back from the provider's sign-out: on to where the app asked to land. */
  async function logoutReturn(request: FastifyRequest, reply: FastifyReply) {
    const back = await consumeCode(store, 'logout-return', queryParam(request, 'state') ?? '');
    if (!back) return page(reply, 200, signedOutPage());
    return redirect(reply, appTarget(back.host, back.target));
  }

  return { logout, logoutReturn, endSession };
}
