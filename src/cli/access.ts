// `signonce access check`: why may (or may not) a user reach an app or sign in to an OpenID
// client (README, "Access rules"). A session signs in with one identity, and rules read that
// identity's provider and claims: so the decision is made for each identity of the account that
// has signed in, with the memberships read as the gateway reads them (a stale source is read from
// its provider; one that cannot be read is named).
import type { IdentityProfile } from '../accounts/accounts.ts';
import { findAccount } from '../accounts/lookup.ts';
import { AccessControl } from '../access/control.ts';
import { MembershipReader } from '../access/memberships.ts';
import { decide, type AccessDecision, type AccessPolicy } from '../access/rules.ts';
import type { Memberships } from '../access/types.ts';
import type { Config } from '../config/index.ts';
import { HTTP_TOKEN } from '../config/schema.ts';
import { createProviders } from '../providers/index.ts';
import { TokenRefresher } from '../refresh/refresher.ts';
import type { Store } from '../store/index.ts';
import { parseCommandLine, usageError, withConfiguredStore } from './usage.ts';

export const usage = [
  'signonce access check (--app ID [--path P] [--method M] | --client ID) (--user USER | --account ID)',
  '                      [--config FILE] [--json]',
  '                          whether the user may reach an app (GET / unless told) or sign in to an OpenID client,',
  '                          for each identity the account signs in with: allow or deny, the rule that decided, and',
  '                          the groups, roles and claims it read. Exit 0 when an identity is allowed, 1 when none',
  '                          is, 2 for usage, config, or an unknown user, app or client',
].join('\n  ');

/** One rule, as the report names it. */
interface RuleReport {
  /** Its position in the policy (0-based). */
  readonly index: number;
  /** Where it is in the config: `access[1]`, `defaultAuthorizationPolicy`. */
  readonly source: string;
  readonly effect: 'allow' | 'deny';
  /** Its `description` or condition in words; null when the rule is `private` (its source names it). */
  readonly describe: string | null;
  readonly private: boolean;
  readonly paths: readonly string[] | null;
  readonly methods: readonly string[] | null;
}

interface IdentityReport {
  readonly provider: string;
  readonly subject: string;
  /** From its last sign-in; null when it has none recorded (then it is not checked). */
  readonly name: string | null;
  readonly decision: {
    readonly allowed: boolean;
    readonly reason: string;
    /** The rule that decided; null when none did (no rule let the user in, or there are no rules). */
    readonly rule: RuleReport | null;
    readonly requirement: string | null;
    readonly used: AccessDecision['used'];
  } | null;
}

/** Where the memberships came from; only when the policy reads groups or roles. */
interface MembershipsReport {
  /** SignOnce's own groups (`signonce groups`). */
  readonly signonce: readonly string[];
  /** What each provider said, used because it was read within `groups.maxAge`. */
  readonly providers: ReadonlyArray<{
    readonly provider: string;
    readonly groups: readonly string[];
    readonly roles: readonly string[];
    readonly readAt: string;
  }>;
  /** Sources that could not be read, each with why (rules on groups and roles refuse meanwhile). */
  readonly unavailable: readonly string[];
}

export interface CheckReport {
  readonly app: string | null;
  readonly client: string | null;
  /** For an app; null for a client (its rules have no paths or methods). */
  readonly request: { readonly path: string; readonly method: string } | null;
  readonly account: { readonly id: string; readonly user: string | null; readonly disabled: boolean };
  /** Some identity is allowed (and the account is not disabled): the exit code is 0. */
  readonly allowed: boolean;
  readonly memberships: MembershipsReport | null;
  readonly identities: readonly IdentityReport[];
}

type Target = { readonly app: string } | { readonly client: string };

function ruleReport(policy: AccessPolicy, index: number): RuleReport {
  const rule = policy.rules[index]!;
  return {
    index,
    source: rule.source,
    effect: rule.effect,
    describe: rule.describe ?? null,
    private: rule.describe === undefined,
    paths: rule.paths ?? null,
    methods: rule.methods ? [...rule.methods] : null,
  };
}

/** The facts of the report: every decision made as the gateway or the OpenID Provider makes it. */
async function check(
  config: Config,
  store: Store,
  target: Target,
  request: { path: string; method: string } | null,
  account: { id: string; user: string | null },
): Promise<CheckReport> {
  const providers = createProviders(config);
  const reader = new MembershipReader({
    store,
    providers,
    refresher: new TokenRefresher(store),
    config,
    log: {
      warn: (details, message) =>
        void process.stderr.write(
          `warning: ${message} (${Object.entries(details)
            .map(([key, value]) => `${key} ${value}`)
            .join(', ')})\n`,
        ),
    },
  });
  // Memberships are the account's, whichever identity signed in: read once.
  let read: Promise<Memberships> | undefined;
  const control = new AccessControl(config, { read: (accountId) => (read ??= reader.read(accountId)) });
  const policy = 'app' in target ? control.appPolicy(target.app) : control.clientPolicy(target.client);
  const identities = (await store.listIdentities(account.id)).filter((i) => !i.provider.startsWith('external:'));
  const reports: IdentityReport[] = [];
  let memberships: Memberships | undefined;
  for (const identity of identities) {
    const profile = identity.profile as IdentityProfile | undefined;
    if (!profile) {
      reports.push({ provider: identity.provider, subject: identity.subject, name: null, decision: null });
      continue;
    }
    const subject = await control.subject(account.id, { provider: identity.provider, claims: profile.claims }, policy);
    if (policy?.readsMemberships) memberships = subject.memberships;
    const decision = decide(policy, subject, request ?? {});
    reports.push({
      provider: identity.provider,
      subject: identity.subject,
      name: profile.name,
      decision: {
        allowed: decision.allowed,
        reason: decision.reason,
        rule: decision.rule === undefined ? null : ruleReport(policy!, decision.rule),
        requirement: decision.requirement ?? null,
        used: decision.used,
      },
    });
  }
  const now = Date.now();
  const kept = memberships && (await store.listProviderGroups(account.id));
  // Background reads (a source older than groups.refreshAfter) finish before the store closes.
  await reader.idle();
  const disabled = (await store.getAccount(account.id))?.disabledAt !== undefined;
  return {
    app: 'app' in target ? target.app : null,
    client: 'client' in target ? target.client : null,
    request,
    account: { ...account, disabled },
    allowed: !disabled && reports.some((r) => r.decision?.allowed),
    memberships:
      memberships && kept
        ? {
            signonce: await store.groupsOf(account.id),
            // As MembershipReader uses them: a provider's memberships younger than maxAge.
            providers: kept
              .filter(
                (k) =>
                  now - k.readAt < config.groups.maxAge &&
                  providers.get(k.provider)?.readGroups &&
                  identities.some((i) => i.provider === k.provider),
              )
              .map((k) => ({
                provider: k.provider,
                groups: k.groups,
                roles: k.roles,
                readAt: new Date(k.readAt).toISOString(),
              })),
            unavailable: memberships.unavailable,
          }
        : null,
    identities: reports,
  };
}

/** "just now", "40 s ago", "4 min ago", "3 h ago", "2 days ago". */
function ago(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

const none = (items: readonly string[]) => (items.length ? items.join(', ') : 'none');

function ruleText(rule: RuleReport): string {
  const scope = [rule.paths && `on ${rule.paths.join(', ')}`, rule.methods && `for ${rule.methods.join(', ')}`]
    .filter(Boolean)
    .join(' ');
  const what = rule.describe ?? '(private: its condition is not shown to users; see the config)';
  return `${rule.source}${scope ? ` (${scope})` : ''}: ${rule.effect} ${what}`;
}

/** The report for people. */
export function renderText(report: CheckReport, now: number = Date.now()): string {
  const lines: string[] = [];
  const what =
    report.app !== null
      ? `app ${report.app}, ${report.request!.method} ${report.request!.path}`
      : `client ${report.client}`;
  const { account } = report;
  lines.push(
    `${what}, account ${account.id}${account.user !== null && account.user !== account.id ? ` (${account.user})` : ''}`,
  );
  if (account.disabled) lines.push('  the account is disabled: it cannot sign in, whatever the rules say');
  const { memberships } = report;
  if (memberships) {
    const sources = [
      `SignOnce: ${none(memberships.signonce)}`,
      ...memberships.providers.map(
        (p) =>
          `${p.provider} (read ${ago(now - Date.parse(p.readAt))}): ${none(p.groups)}${p.roles.length ? `; roles ${p.roles.join(', ')}` : ''}`,
      ),
    ];
    lines.push(`  memberships: ${sources.join('; ')}`);
    for (const source of memberships.unavailable) lines.push(`  unavailable: ${source}`);
  }
  for (const identity of report.identities) {
    const who = `signed in with ${identity.provider} (${identity.name ?? identity.subject})`;
    const { decision } = identity;
    if (!decision) {
      lines.push(`  ${who}: not checked — no sign-in of it is recorded (its claims are unknown)`);
      continue;
    }
    lines.push(`  ${who}: ${decision.allowed ? 'allow' : 'deny'} — ${decision.reason}`);
    if (decision.rule) lines.push(`    rule: ${ruleText(decision.rule)}`);
    if (!decision.allowed && decision.requirement !== null) lines.push(`    requirement: ${decision.requirement}`);
    const { groups, roles, claims } = decision.used;
    if (groups) lines.push(`    groups read: ${none(groups)}`);
    if (roles) lines.push(`    roles read: ${none(roles)}`);
    if (claims) lines.push(`    claims read: ${none(claims.map((c) => `${c.typ}=${c.val}`))}`);
  }
  if (!report.identities.some((i) => i.decision))
    lines.push('  no identity of this account has a recorded sign-in: nothing to check');
  return `${lines.join('\n')}\n`;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      app: { type: 'string' },
      client: { type: 'string' },
      user: { type: 'string' },
      account: { type: 'string' },
      path: { type: 'string' },
      method: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    usage,
  );
  if (!parsed) return 2;
  const { values, positionals } = parsed;
  if (positionals.length !== 1 || positionals[0] !== 'check') return usageError(usage);
  if ((values.app === undefined) === (values.client === undefined))
    return usageError(usage, 'give one of --app ID or --client ID');
  if ((values.user === undefined) === (values.account === undefined))
    return usageError(usage, 'give one of --user USER or --account ID');
  if (values.client !== undefined && (values.path !== undefined || values.method !== undefined))
    return usageError(usage, "--path and --method are for --app: an OpenID client's rules have no paths or methods");
  const path = values.path ?? '/';
  if (!path.startsWith('/')) return usageError(usage, `--path ${JSON.stringify(path)} does not start with "/"`);
  const method = values.method ?? 'GET';
  if (!HTTP_TOKEN.test(method)) return usageError(usage, `--method ${JSON.stringify(method)} is not an HTTP method`);

  return withConfiguredStore(values.config, async (config, store) => {
    let target: Target;
    if (values.app !== undefined) {
      if (!config.apps.some((a) => a.id === values.app))
        return notFound(`no app "${values.app}" in the config (apps: ${none(config.apps.map((a) => a.id))})`);
      target = { app: values.app };
    } else {
      if (!config.clients.some((c) => c.id === values.client))
        return notFound(
          `no OpenID client "${values.client}" in the config (clients: ${none(config.clients.map((c) => c.id))})`,
        );
      target = { client: values.client! };
    }
    let accountId: string;
    if (values.account !== undefined) {
      if (!(await store.getAccount(values.account))) return notFound(`no account "${values.account}"`);
      accountId = values.account;
    } else {
      const found = await findAccount(store, config, values.user!);
      if ('problem' in found) return notFound(found.problem);
      accountId = found.accountId;
    }
    const report = await check(config, store, target, 'app' in target ? { path, method: method.toUpperCase() } : null, {
      id: accountId,
      user: values.user ?? null,
    });
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderText(report));
    return report.allowed ? 0 : 1;
  });
}

function notFound(problem: string): number {
  process.stderr.write(`${problem}\n`);
  return 2;
}
