// The admin console, /.auth/admin on the auth host (README, "The admin console"): off unless
// `admin.access` lists rules. Every page and action is for an account those rules allow, signed in
// within `admin.freshSignIn` (else a new sign-in at its provider, asked to authenticate anew); every
// action is audited with the admin as its actor. Pages are never cached (SignOnce's page headers).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { setAccountDisabled, signOutEverywhere } from '../../accounts/accounts.ts';
import { groupNameProblem } from '../../accounts/groups.ts';
import { matchingAccounts } from '../../accounts/lookup.ts';
import { AUDIT_KINDS, type AuditKind } from '../../audit/audit-log.ts';
import { ADMIN_APP } from '../../session/codes.ts';
import { signedInWith, type SignedInIdentity } from '../../session/principal.ts';
import type { Session } from '../../store/index.ts';
import { dashboardFigures, dashboardQuery } from '../../audit/dashboard.ts';
import { accountFacts, identityViews } from '../account-facts.ts';
import {
  ADMIN_ROOT,
  auditPage,
  dashboardPage,
  notAdminPage,
  userPage,
  usersPage,
  type UserSummary,
} from '../admin-pages.ts';
import { auditOrigin, recordAudit } from '../audit.ts';
import { breakdownChart, dayBars, hourBars, timeBarChart } from '../charts.ts';
import type { GatewayContext } from '../context.ts';
import { page, queryParam, redirect } from '../http.ts';
import { errorPage, signInPage } from '../pages.ts';
import { checkRedirect } from '../rules/redirects.ts';
import { ssoSessionOf } from './handoff.ts';
import { readOwnForm, seeOther } from './own-forms.ts';
import { startAuthHostLogin } from './sign-in.ts';

/** The admin actions on a user (`POST /.auth/admin/users/{id}/{action}`). */
export const ADMIN_ACTIONS = [
  'disable',
  'enable',
  'sign-out',
  'delete',
  'groups/add',
  'groups/remove',
  'second-factors/reset',
] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

/** Events on a page of the audit log, and the latest on a user's page: with details cut, well under 50 KB. */
const AUDIT_PAGE_SIZE = 50;
const USER_EVENTS = 20;

/**
 * Where a sign-in to the console returns: `to` when it is a path of the console (checked as any
 * post-sign-in redirect is, rules/redirects.ts), else the dashboard.
 */
export function adminReturnPath(to: string | undefined): string {
  if (to === undefined) return ADMIN_ROOT;
  const decision = checkRedirect(to, []);
  if (!decision.ok) return ADMIN_ROOT;
  // As a browser resolves it: dot segments, also percent-encoded ones (WHATWG URL), are resolved
  // first, so `/.auth/admin/%2e%2e/account` is the account page, not a page of the console.
  const { pathname, search } = new URL(decision.location, 'http://signonce.invalid');
  const withinConsole = pathname === ADMIN_ROOT || pathname.startsWith(`${ADMIN_ROOT}/`);
  return withinConsole ? `${pathname}${search}` : ADMIN_ROOT;
}

/** What the last action did, by the key it redirects with (`?done=`). */
const DONE: Readonly<Record<string, string>> = {
  disabled: 'The account is disabled and signed out everywhere.',
  enabled: 'The account is enabled.',
  'signed-out': 'The account is signed out everywhere.',
  'group-added': 'Added to the group.',
  'group-removed': 'Removed from the group.',
  'factors-reset':
    'Two-step sign-in is off for this account: it signs in with its password, and sets it up again where its provider requires it.',
};

/** The dashboard's charts: sign-ins over the last day and week, and what failed, by reason or provider. */
async function dashboardCharts(ctx: GatewayContext, now: number) {
  const figures = dashboardFigures(await ctx.store.auditCounts(dashboardQuery(now)), now);
  const signIns = ['sign-in', 'sign-ins'] as const;
  const failures = ['failure', 'failures'] as const;
  return [
    {
      title: 'Sign-ins per hour, the last 24 hours (UTC)',
      svg: timeBarChart(
        {
          id: 'per-hour',
          title: 'Sign-ins per hour',
          description: 'Successful sign-ins in each of the last 24 hours.',
          noun: signIns,
        },
        hourBars(figures.signInsPerHour),
      ),
    },
    {
      title: 'Sign-ins per day, the last 7 days (UTC)',
      svg: timeBarChart(
        {
          id: 'per-day',
          title: 'Sign-ins per day',
          description: 'Successful sign-ins on each of the last 7 days.',
          noun: signIns,
        },
        dayBars(figures.signInsPerDay),
      ),
    },
    {
      title: 'Failed and refused sign-ins by reason, the last 7 days',
      svg: breakdownChart(
        {
          id: 'failures',
          title: 'Failed sign-ins by reason',
          description: 'Sign-ins that failed, were throttled or refused, by reason.',
          noun: failures,
          what: 'reasons',
        },
        figures.failuresByReason.map(({ label, count }) => ({ label, count })),
      ),
    },
    {
      title: 'Access refusals by reason, the last 7 days',
      svg: breakdownChart(
        {
          id: 'refusals',
          title: 'Access refusals by reason',
          description: 'Requests that access rules refused, by reason.',
          noun: ['refusal', 'refusals'],
          what: 'reasons',
        },
        figures.refusalsByReason.map(({ label, count }) => ({ label, count })),
      ),
    },
    {
      title: 'Refresh failures by provider, the last 7 days',
      svg: breakdownChart(
        {
          id: 'refresh',
          title: 'Refresh failures by provider',
          description: 'Token refreshes that providers refused or could not answer, by provider.',
          noun: failures,
          what: 'providers',
        },
        figures.refreshFailuresByProvider.map(({ label, count }) => ({ label, count })),
      ),
    },
  ];
}

export function adminRoutes(ctx: GatewayContext) {
  const { config, store, providers } = ctx;

  /**
   * The admin asking, or the answer already sent: `404` with the console off; the providers to
   * sign in with (a page for GET; `401` for a form); `403` for an account the rules refuse; a new
   * sign-in when the last is older than `admin.freshSignIn` (GET: at once; a form: `401` with a link).
   */
  async function admin(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<{ session: Session } | { answered: FastifyReply }> {
    if (!ctx.access.adminPolicy())
      return { answered: page(reply, 404, errorPage('Not found', 'There is no such page.')) };
    const target = adminReturnPath(request.url);
    const reading = request.method === 'GET' || request.method === 'HEAD';
    const signedIn = await ssoSessionOf(ctx, request.headers.cookie);
    if (!signedIn) {
      if (!reading)
        return {
          answered: page(reply, 401, errorPage('Sign in first', 'Sign in to the admin console again.', target)),
        };
      const choices = [...providers.values()].map((p) => ({
        displayName: p.displayName,
        href: `${ADMIN_ROOT}/login/${encodeURIComponent(p.id)}?to=${encodeURIComponent(target)}`,
      }));
      return { answered: page(reply, 200, signInPage(choices, 'Sign in to the admin console')) };
    }
    const { session } = signedIn;
    const user = session.data.user as SignedInIdentity;
    const decision = await ctx.access.forAdmin(session.accountId, user);
    if (!decision.allowed) {
      request.log.warn({ account: session.accountId, reason: decision.reason }, 'admin console refused');
      ctx.audit.recordRepeated(`access-refused\n${session.accountId}\n${ADMIN_APP}\n${decision.reason}`, {
        kind: 'access-refused',
        outcome: 'refused',
        accountId: session.accountId,
        app: ADMIN_APP,
        ...auditOrigin(ctx, request),
        detail: { provider: user.provider, reason: decision.reason },
      });
      return { answered: page(reply, 403, notAdminPage(user.name, decision.reason)) };
    }
    if (Date.now() - session.createdAt > config.admin.freshSignIn) {
      const again = freshSignInPath(signedInWith(session)?.provider ?? user.provider, target);
      if (reading) return { answered: redirect(reply, again) };
      return {
        answered: page(
          reply,
          401,
          errorPage('Sign in again', 'Admin actions need a recent sign-in. Sign in again, then repeat it.', again),
        ),
      };
    }
    return { session };
  }

  const freshSignInPath = (provider: string, target: string) =>
    `${ADMIN_ROOT}/login/${encodeURIComponent(provider)}?fresh=1&to=${encodeURIComponent(target)}`;

  /** GET /.auth/admin/login/{provider}[?fresh=1][&to=…]: a sign-in to the console (anew at the provider with `fresh`). */
  function login(request: FastifyRequest, reply: FastifyReply, providerId: string) {
    if (!ctx.access.adminPolicy()) return page(reply, 404, errorPage('Not found', 'There is no such page.'));
    if (!providers.has(providerId))
      return page(
        reply,
        404,
        errorPage('Unknown sign-in provider', `There is no provider "${providerId}".`, ADMIN_ROOT),
      );
    return startAuthHostLogin(ctx, reply, {
      provider: providerId,
      appId: ADMIN_APP,
      redirect: adminReturnPath(queryParam(request, 'to')),
      ...(queryParam(request, 'fresh') ? { prompt: 'login', reauthenticate: true } : {}),
    });
  }

  /** GET /.auth/admin: the dashboard. */
  async function dashboard(request: FastifyRequest, reply: FastifyReply) {
    const asking = await admin(request, reply);
    if ('answered' in asking) return asking.answered;
    return page(reply, 200, dashboardPage(await dashboardCharts(ctx, Date.now())));
  }

  /** GET /.auth/admin/users[?q=…]: finding users. */
  async function users(request: FastifyRequest, reply: FastifyReply) {
    const asking = await admin(request, reply);
    if ('answered' in asking) return asking.answered;
    const q = (queryParam(request, 'q') ?? '').trim().slice(0, 512);
    if (!q) return page(reply, 200, usersPage('', undefined));
    const found: UserSummary[] = [];
    for (const match of await matchingAccounts(store, config, q)) {
      const account = await store.getAccount(match.accountId);
      const identities = await identityViews(ctx, match.accountId);
      found.push({
        ...match,
        identities: identities.map((i) => ({ provider: i.providerName, name: i.name })),
        disabled: account?.disabledAt !== undefined,
      });
    }
    return page(reply, 200, usersPage(q, found));
  }

  /** GET /.auth/admin/users/{id}: one user. */
  async function user(request: FastifyRequest, reply: FastifyReply, accountId: string) {
    const asking = await admin(request, reply);
    if ('answered' in asking) return asking.answered;
    const done = queryParam(request, 'done');
    const notice = done && Object.hasOwn(DONE, done) ? { text: DONE[done]!, problem: false } : undefined;
    return showUser(reply, 200, accountId, asking.session, notice);
  }

  async function showUser(
    reply: FastifyReply,
    status: number,
    accountId: string,
    admin: Session,
    notice?: { text: string; problem: boolean },
  ) {
    const account = await store.getAccount(accountId);
    if (!account)
      return page(reply, 404, errorPage('No such account', `There is no account ${accountId}.`, ADMIN_ROOT));
    return page(
      reply,
      status,
      userPage({
        accountId,
        createdAt: account.createdAt,
        disabledAt: account.disabledAt,
        facts: await accountFacts(ctx, accountId),
        groups: await store.groupsOf(accountId),
        providerGroups: (await store.listProviderGroups(accountId)).map((p) => ({
          provider: p.provider,
          groups: [...p.groups, ...p.roles.map((r) => `role ${r}`)],
          readAt: p.readAt,
        })),
        events: await store.listAudit({ accountId, limit: USER_EVENTS }),
        twoStep: {
          ...(await ctx.secondFactors.status(accountId)),
          passkeys: (await ctx.passkeys.list(accountId)).length,
        },
        self: accountId === admin.accountId,
        notice,
      }),
      ctx.formTargets,
    );
  }

  /** POST /.auth/admin/users/{id}/{action}: an admin action, audited with the admin as actor. */
  async function act(request: FastifyRequest, reply: FastifyReply, accountId: string, action: AdminAction) {
    const asking = await admin(request, reply);
    if ('answered' in asking) return asking.answered;
    const base = `${ADMIN_ROOT}/users/${encodeURIComponent(accountId)}`;
    const form = await readOwnForm(ctx, request, reply, base);
    if ('answered' in form) return form.answered;
    const { session } = asking;
    if (!(await store.getAccount(accountId)))
      return page(reply, 404, errorPage('No such account', `There is no account ${accountId}.`, ADMIN_ROOT));
    const again = (problem: string) => showUser(reply, 400, accountId, session, { text: problem, problem: true });
    const audited = (kind: AuditKind, detail?: object) =>
      recordAudit(ctx, request, {
        kind,
        outcome: 'success',
        accountId,
        actor: session.accountId,
        app: ADMIN_APP,
        detail,
      });
    const self = accountId === session.accountId;
    switch (action) {
      case 'disable':
      case 'enable': {
        // An admin who disables their own account locks themselves out of the console.
        if (self) return again('Your own account cannot be disabled here.');
        await setAccountDisabled(store, accountId, action === 'disable');
        await audited(action === 'disable' ? 'account-disabled' : 'account-enabled');
        return seeOther(reply, `${base}?done=${action}d`);
      }
      case 'sign-out': {
        await signOutEverywhere(store, accountId);
        await audited('sessions-ended', { everywhere: true });
        return seeOther(reply, self ? ADMIN_ROOT : `${base}?done=signed-out`);
      }
      case 'delete': {
        if (self) return again('Your own account cannot be deleted here.');
        if (form.get('confirmation')?.trim() !== accountId)
          return again('Not deleted: type the account id to confirm.');
        await store.deleteAccount(accountId);
        await audited('account-deleted');
        return seeOther(reply, `${ADMIN_ROOT}/users`);
      }
      case 'second-factors/reset': {
        // A lost phone or key: the user's factors go, passkeys too (the password stays); where the
        // provider requires them, the next sign-in sets new ones up.
        await ctx.secondFactors.remove(accountId);
        const passkeys = await ctx.passkeys.list(accountId);
        for (const passkey of passkeys) await ctx.passkeys.remove(accountId, passkey.credentialId);
        await audited('second-factor-removed', { factor: 'all', passkeys: passkeys.length, by: 'admin' });
        return seeOther(reply, `${base}?done=factors-reset`);
      }
      case 'groups/add':
      case 'groups/remove': {
        const group = form.get('group') ?? '';
        const problem = groupNameProblem(group);
        if (problem) return again(`Not changed: ${problem}.`);
        if (action === 'groups/add') await store.addGroupMembers(group, [accountId]);
        else await store.removeGroupMembers(group, [accountId]);
        await audited(action === 'groups/add' ? 'group-added' : 'group-removed', { group });
        return seeOther(reply, `${base}?done=${action === 'groups/add' ? 'group-added' : 'group-removed'}`);
      }
    }
  }

  /** GET /.auth/admin/audit[?kind=…][&account=…][&before=id]: the audit log, a page at a time. */
  async function audit(request: FastifyRequest, reply: FastifyReply) {
    const asking = await admin(request, reply);
    if ('answered' in asking) return asking.answered;
    const kind = queryParam(request, 'kind') || undefined;
    const account = queryParam(request, 'account')?.trim() || undefined;
    const before = Number(queryParam(request, 'before'));
    const events = await store.listAudit({
      limit: AUDIT_PAGE_SIZE,
      ...(kind ? { kinds: [kind] } : {}),
      ...(account ? { accountId: account } : {}),
      ...(Number.isSafeInteger(before) && before > 0 ? { before } : {}),
    });
    const next = events.length === AUDIT_PAGE_SIZE ? events.at(-1)!.id : undefined;
    return page(reply, 200, auditPage(events, AUDIT_KINDS, { kind, account, next }));
  }

  return { login, dashboard, users, user, act, audit };
}
