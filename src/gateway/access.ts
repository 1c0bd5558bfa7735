// Access rules where requests reach an app (README, "Access rules: who may reach what"): the
// decision for a signed-in request (src/access decides; a proxied request's subject comes cached
// with its session), and the refusal: a 403 page for browsers naming who they are signed in as,
// what the app asks in plain words and a way to sign in with another account; JSON for API
// callers. Every refusal is logged with the app, the rule and the account (never a token).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { decide, type AccessDecision } from '../access/rules.ts';
import { acrOf, amrOf, unmetRequirement, type SignInProof, type UnmetRequirement } from '../access/step-up.ts';
import type { AuditOrigin } from '../audit/audit-log.ts';
import type { AppConfig } from '../config/index.ts';
import type { SignedInIdentity } from '../session/principal.ts';
import type { Identified, SignedIn } from '../session/signed-in.ts';
import type { Session } from '../store/index.ts';
import { auditOrigin } from './audit.ts';
import type { GatewayContext } from './context.ts';
import { insufficientAuthentication, sendError } from './errors.ts';
import { isNavigation, page } from './http.ts';
import { accessDeniedPage } from './pages.ts';
import { isExcludedPath } from './rules/excluded-paths.ts';

/** The request as access rules read it. */
export interface AccessTarget {
  /** The request target (path and query), as received. */
  readonly url: string;
  readonly method: string;
}

/** Whether `who` may make `target` at the app: with the subject cached with a resolved session, else read now. */
export async function accessDecision(
  ctx: GatewayContext,
  who: Identified | SignedIn,
  appConfig: AppConfig,
  target: AccessTarget,
): Promise<AccessDecision> {
  const policy = ctx.access.appPolicy(appConfig.id);
  const subject = 'subject' in who ? who.subject : await ctx.access.subject(who.session.accountId, who.user, policy);
  return decide(policy, subject, { path: target.url, method: target.method });
}

/**
 * The refusal of a proxied request (or WebSocket upgrade) by the app's rules; undefined when it
 * may pass. `excludedPaths` stay public: no rule applies to them. Synchronous: the subject comes
 * with the resolved session, and the hot path pays no more than the decision (rules.ts caches it).
 */
export function proxiedRefusal(
  ctx: GatewayContext,
  who: SignedIn,
  appConfig: AppConfig,
  target: AccessTarget,
): { readonly decision: AccessDecision; readonly stepUp?: UnmetRequirement } | undefined {
  const policy = ctx.access.appPolicy(appConfig.id);
  if (!policy || isExcludedPath(target.url, appConfig.excludedPaths)) return undefined;
  const decision = decide(policy, who.subject, { path: target.url, method: target.method });
  if (!decision.allowed) return { decision };
  // The hot path: rules without `require` read no proof.
  if (!decision.require) return undefined;
  const stepUp = unmetRequirement(decision.require, proofOf(ctx, who), Date.now());
  return stepUp && { decision, stepUp };
}

/**
 * What a sign-in proved (step-up.ts): its `amr` (RFC 8176) and `acr` claims, read with what its
 * provider's `acr` values mean, and when: the session's start, or for a provider's bearer token
 * its `auth_time` (none: no age is met).
 */
export function proofOf(
  ctx: Pick<GatewayContext, 'providers'>,
  who: { readonly user: Pick<SignedInIdentity, 'provider' | 'claims'>; readonly session?: Pick<Session, 'createdAt'> },
): SignInProof {
  const authTime = who.session
    ? who.session.createdAt
    : Number(who.user.claims.find((c) => c.typ === 'auth_time')?.val) * 1000;
  return {
    amr: amrOf(who.user.claims),
    acr: acrOf(who.user.claims),
    mfaAcrValues: ctx.providers.get(who.user.provider)?.mfaAcrValues,
    authTime,
  };
}

/**
 * For SignOnce's endpoints on an app host (/.auth/me, /.auth/refresh, /.auth/token): the refusal
 * answered when the app's rules refuse `who` this request (403 access_denied), or let them in only
 * with a sign-in that proved more (401 insufficient_user_authentication: a rule's `require` covers
 * what these endpoints tell and hand out as it covers the app); undefined when they let it through.
 */
export async function refusedAtEndpoint(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  who: Identified | SignedIn,
  appConfig: AppConfig,
): Promise<FastifyReply | undefined> {
  const decision = await accessDecision(ctx, who, appConfig, request);
  if (!decision.allowed) return refuseAccess(ctx, request, reply, appConfig, request, who, decision);
  const unmet = unmetRequirement(decision.require, proofOf(ctx, who), Date.now());
  return unmet && insufficientAuthentication(reply, appConfig, unmet);
}

/**
 * Logs a refusal with the rule that decided (its place in the config: `access[2]`), never a token,
 * and audits it (at most once a minute per subject, app and reason: a client retrying cannot fill
 * the audit log).
 */
export function refusalHappened(
  ctx: GatewayContext,
  log: FastifyRequest['log'],
  origin: AuditOrigin,
  appConfig: AppConfig,
  who: Identified | SignedIn,
  decision: AccessDecision,
): void {
  const rule =
    decision.rule === undefined ? undefined : ctx.access.appPolicy(appConfig.id)?.rules[decision.rule]?.source;
  const account = 'session' in who ? who.session.accountId : who.subject.accountId;
  const application = 'subject' in who ? who.subject.application?.clientId : undefined;
  log.info(
    { app: appConfig.id, rule, account, application, provider: who.user.provider, reason: decision.reason },
    `access to ${appConfig.id} refused`,
  );
  ctx.audit.recordRepeated(
    `access-refused\n${account ?? ''}\n${application ?? ''}\n${appConfig.id}\n${decision.reason}`,
    {
      kind: 'access-refused',
      outcome: 'refused',
      accountId: account,
      app: appConfig.id,
      ...origin,
      detail: { rule, application, provider: who.user.provider, reason: decision.reason },
    },
  );
}

/**
 * Where a browser goes to sign in to the app (its defaultProvider, else the choice of providers),
 * then back to `url`. `prompt=login` asks the provider to authenticate anew; a step-up adds what
 * it lacks: `mfa=1` a second factor, `max_age=0` a sign-in shown to be new.
 */
export function signInLocation(
  appConfig: AppConfig,
  url: string,
  prompt?: 'login',
  stepUp?: Pick<UnmetRequirement, 'mfa' | 'maxAgeMs'>,
): string {
  const path = appConfig.defaultProvider
    ? `/.auth/login/${encodeURIComponent(appConfig.defaultProvider)}`
    : '/.auth/login';
  const query = [
    ...(prompt ? [`prompt=${prompt}`] : []),
    ...(stepUp?.mfa ? ['mfa=1'] : []),
    ...(stepUp?.maxAgeMs !== undefined ? ['max_age=0'] : []),
    `post_login_redirect_uri=${encodeURIComponent(url)}`,
  ];
  return `${path}?${query.join('&')}`;
}

/** `403 access_denied` of `target`: a page for browsers' navigations, JSON for everyone else. */
export function refuseAccess(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  appConfig: AppConfig,
  target: AccessTarget,
  who: Identified | SignedIn,
  decision: AccessDecision,
) {
  refusalHappened(ctx, request.log, auditOrigin(ctx, request), appConfig, who, decision);
  if (!isNavigation(request))
    return sendError(reply, 403, { error: 'access_denied', reason: decision.reason }, { 'cache-control': 'no-store' });
  // Signing out first, then in again with the provider asked to authenticate anew (prompt=login),
  // so its own session does not sign the same user in again.
  const again = signInLocation(appConfig, target.url, 'login');
  return page(
    reply,
    403,
    accessDeniedPage({
      app: appConfig.id,
      name: who.user.name,
      provider: ctx.providers.get(who.user.provider)?.displayName ?? who.user.provider,
      requirement: decision.requirement,
      letsIn: decision.rule === undefined,
      unavailable: decision.unavailable ?? [],
      anotherAccount: `/.auth/logout?post_logout_redirect_uri=${encodeURIComponent(again)}`,
    }),
  );
}
