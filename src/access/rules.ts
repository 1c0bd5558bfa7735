// Who may reach what (README, "Access rules"): an app's or client's rules, compiled once, and the
// decision for one subject and request, a pure function of them. Rules are read in order; the
// first that applies to the request and whose condition matches decides; none refuses.
// Wherever a rule cannot tell, it fails closed: a deny rule applies to a request it cannot place,
// an allow rule does not, and a condition that needs memberships no one can read now refuses.
import { verifiedEmail } from '../accounts/linking.ts';
import type { AccessRuleConfig, ConditionConfig, DefaultAuthorizationPolicyConfig } from '../config/index.ts';
import type { SignInRequirement } from './step-up.ts';
import type { Claim } from '../providers/index.ts';
import { canonicalPath, pathMatches } from './paths.ts';
import type { AccessRequest, AccessSubject } from './types.ts';

/** What an app or client says of access: `access` rules, or Easy Auth v2's spelling of one. */
export interface AccessConfig {
  readonly access?: readonly AccessRuleConfig[];
  readonly defaultAuthorizationPolicy?: DefaultAuthorizationPolicyConfig;
}

/** One compiled rule. */
export interface AccessRule {
  /** Where it is in the config: `access[2]`, or `defaultAuthorizationPolicy`. */
  readonly source: string;
  readonly effect: 'allow' | 'deny';
  /** What it asks, in plain words for the 403 page (its `description`, else its condition); undefined when private. */
  readonly describe: string | undefined;
  /** The operator's own `description`, undefined when private or not given. */
  readonly description: string | undefined;
  readonly paths: readonly string[] | undefined;
  /** The paths as a deny rule compares them (see `looseForm`). */
  readonly loosePaths: readonly string[] | undefined;
  /** Upper-case (ASCII). */
  readonly methods: ReadonlySet<string> | undefined;
  readonly condition: Matcher;
  /** An allow rule's `require`: what the sign-in must have proved (step-up.ts). */
  readonly require?: SignInRequirement | undefined;
}

export interface AccessPolicy {
  readonly rules: readonly AccessRule[];
  /**
   * Decisions made, per subject and per set of rules that applied (the only part of a request a
   * decision depends on): `decide` is a pure function of immutable inputs, so a session's
   * decisions are made once while its subject is cached (session.cacheTtl), whatever the path.
   */
  readonly decided: WeakMap<AccessSubject, Map<string, AccessDecision>>;
  /** Some rule has paths or methods: decisions vary per request, not only per subject (caching). */
  readonly readsRequest: boolean;
  /** Some rule reads groups or roles: the subject's memberships must be read (they cost store reads). */
  readonly readsMemberships: boolean;
}

export interface AccessDecision {
  readonly allowed: boolean;
  /** Index in `policy.rules` of the rule that decided; undefined when none did. */
  readonly rule?: number;
  /** Plain words, for logs and API 403 bodies: never the rules' conditions. */
  readonly reason: string;
  /** What would let the user in, in plain words (403 page); undefined when private or unknown. */
  readonly requirement?: string;
  /** Refused because memberships this rule needs cannot be read now: which sources, and why (memberships.unavailable). */
  readonly unavailable?: readonly string[];
  /** Allowed by a rule with `require`: what the sign-in must have proved besides who it is (step-up.ts). */
  readonly require?: SignInRequirement | undefined;
  /** The facts the deciding (or, when none decided, the failing) conditions read, for `signonce access check`. */
  readonly used: { readonly groups?: string[]; readonly roles?: string[]; readonly claims?: Claim[] };
}

/** True: matches; false: does not; undefined: cannot tell (memberships cannot be read now). */
type Truth = boolean | undefined;

interface Matcher {
  readonly test: (facts: Facts) => Truth;
  /** Reads groups or roles, which may be unavailable: evaluated after what is always known. */
  readonly needsMemberships: boolean;
  readonly text: string;
  /** The connective at the top of `text`, to know when to parenthesise it. */
  readonly joint?: 'or' | 'and';
}

/** Which facts of the subject a condition read. */
interface Reading {
  groups: boolean;
  roles: boolean;
  readonly claimTypes: Set<string>;
}
const newReading = (): Reading => ({ groups: false, roles: false, claimTypes: new Set() });

// Case folding of A-Z only: a Unicode lower-casing would fold look-alikes onto ASCII letters
// (U+212A KELVIN SIGN lowercases to "k", U+0130 to "i̇"), letting one address pass for another.
const foldAscii = (text: string) => text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
const upperAscii = (text: string) => text.replace(/[a-z]+/g, (lower) => lower.toUpperCase());

const EMAIL_CLAIMS = ['email', 'email_verified'];

/** The subject's facts, worked out once per decision, as the conditions read them. */
class Facts {
  readonly subject: AccessSubject;
  reading: Reading = newReading();
  #email: string | null | undefined;
  constructor(subject: AccessSubject) {
    this.subject = subject;
  }
  /** The verified e-mail, ASCII-folded; undefined when there is none (linking.ts says which count). */
  email(): string | undefined {
    for (const typ of EMAIL_CLAIMS) this.reading.claimTypes.add(typ);
    if (this.#email === undefined) {
      const email = verifiedEmail(this.subject.claims, this.subject.emailTrusted);
      this.#email = email === undefined ? null : foldAscii(email);
    }
    return this.#email ?? undefined;
  }
  /** The verified e-mail's domain; undefined when it has an empty label (a trailing or doubled dot). */
  emailDomain(): string | undefined {
    const domain = this.email()?.split('@')[1];
    return domain?.split('.').includes('') ? undefined : domain;
  }
  memberships(kind: 'groups' | 'roles'): ReadonlySet<string> | undefined {
    this.reading[kind] = true;
    const { memberships } = this.subject;
    return memberships.unavailable.length ? undefined : memberships[kind];
  }
  claims(types: Iterable<string>): readonly Claim[] {
    for (const typ of types) this.reading.claimTypes.add(typ);
    return this.subject.claims;
  }
}

/** "a", "a or b", "a, b or c". */
function orList(items: readonly string[]): string {
  return items.length < 2 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}
const listed = (text: string, items: readonly string[]): Pick<Matcher, 'text' | 'joint'> => ({
  text: `${text} ${orList(items)}`,
  joint: items.length > 1 ? 'or' : undefined,
});

function anyOf(parts: readonly Matcher[]): Matcher {
  // Kleene logic: one match is enough, whatever else cannot be told.
  const ordered = [...parts].sort((a, b) => Number(a.needsMemberships) - Number(b.needsMemberships));
  if (ordered.length === 1) return ordered[0]!;
  return {
    test(facts) {
      let unknown = false;
      for (const part of ordered) {
        const truth = part.test(facts);
        if (truth) return true;
        if (truth === undefined) unknown = true;
      }
      return unknown ? undefined : false;
    },
    needsMemberships: ordered.some((part) => part.needsMemberships),
    text: ordered.map((part) => (part.joint === 'and' ? `(${part.text})` : part.text)).join(' or '),
    joint: 'or',
  };
}

function allOf(parts: readonly Matcher[]): Matcher {
  // Kleene logic: one mismatch is enough, whatever else cannot be told.
  const ordered = [...parts].sort((a, b) => Number(a.needsMemberships) - Number(b.needsMemberships));
  return {
    test(facts) {
      let unknown = false;
      for (const part of ordered) {
        const truth = part.test(facts);
        if (truth === false) return false;
        if (truth === undefined) unknown = true;
      }
      return unknown ? undefined : true;
    },
    needsMemberships: ordered.some((part) => part.needsMemberships),
    text: parts.map((part) => (part.joint === 'or' ? `(${part.text})` : part.text)).join(' and '),
    joint: parts.length > 1 ? 'and' : parts[0]?.joint,
  };
}

function membershipMatcher(kind: 'groups' | 'roles', names: readonly string[]): Matcher {
  return {
    test(facts) {
      const held = facts.memberships(kind);
      return held && names.some((name) => held.has(name));
    },
    needsMemberships: true,
    ...listed(kind === 'groups' ? 'members of' : 'the role', names),
  };
}

function setMatcher(
  text: string,
  values: readonly string[],
  of: (subject: AccessSubject) => string | undefined,
): Matcher {
  const set = new Set<string | undefined>(values);
  return { test: (facts) => set.has(of(facts.subject)), needsMemberships: false, ...listed(text, values) };
}

/** A condition on users: an application calling for itself (client credentials) is none. */
const onUsers = (matcher: Matcher): Matcher => ({
  ...matcher,
  test: (facts) => (facts.subject.application?.alone ? false : matcher.test(facts)),
});

function compileCondition(condition: ConditionConfig): Matcher {
  const parts: Matcher[] = [];
  if (condition.emails) {
    const emails = new Set(condition.emails.map(foldAscii));
    parts.push({
      test(facts) {
        const email = facts.email();
        return email !== undefined && emails.has(email);
      },
      needsMemberships: false,
      ...listed('the verified e-mail', condition.emails),
    });
  }
  if (condition.emailDomains) {
    const domains = condition.emailDomains.map(foldAscii);
    const exact = new Set(domains.filter((domain) => !domain.startsWith('*.')));
    // `*.example.com` is its subdomains only: the suffix `.example.com` after a non-empty label.
    const suffixes = domains.filter((domain) => domain.startsWith('*.')).map((domain) => domain.slice(1));
    parts.push({
      test(facts) {
        const domain = facts.emailDomain();
        return domain !== undefined && (exact.has(domain) || suffixes.some((suffix) => domain.endsWith(suffix)));
      },
      needsMemberships: false,
      ...listed(
        'a verified e-mail at',
        condition.emailDomains.map((domain) =>
          domain.startsWith('*.') ? `a subdomain of ${domain.slice(2)}` : domain,
        ),
      ),
    });
  }
  if (condition.groups) parts.push(membershipMatcher('groups', condition.groups));
  if (condition.roles) parts.push(membershipMatcher('roles', condition.roles));
  if (condition.providers) parts.push(setMatcher('a sign-in with', condition.providers, (s) => s.provider));
  if (condition.accounts) parts.push(setMatcher('the account', condition.accounts, (s) => s.accountId));
  if (condition.claims) {
    const wanted = new Map(Object.entries(condition.claims).map(([typ, values]) => [typ, new Set(values)]));
    const types = [...wanted.keys()];
    parts.push({
      test: (facts) => facts.claims(types).some((claim) => wanted.get(claim.typ)?.has(claim.val)),
      needsMemberships: false,
      text: Object.entries(condition.claims)
        .map(([typ, values]) => `the claim ${typ} ${orList(values.map((value) => JSON.stringify(value)))}`)
        .join(' or '),
      joint: types.length > 1 || Object.values(condition.claims).some((values) => values.length > 1) ? 'or' : undefined,
    });
  }
  if (condition.authenticated) parts.push({ test: () => true, needsMemberships: false, text: 'every signed-in user' });
  const matchers = parts.map(onUsers);
  // The calling application of a provider's bearer token; a session names none.
  if (condition.applications)
    matchers.push(setMatcher('the application', condition.applications, (s) => s.application?.clientId));
  if (condition.all) matchers.push(allOf(condition.all.map(compileCondition)));
  return anyOf(matchers);
}

/**
 * A path as a deny rule compares it: percent-encodings decoded and ASCII letters folded, since an
 * upstream may read `/%61dmin` or `/ADMIN` as `/admin` (RFC 3986 section 6.2.2; case-insensitive
 * file systems). Safe on a canonical path: it has no encoded "/", ".", "%", "?", "#", ";" or "\".
 */
function looseForm(path: string): string {
  try {
    return foldAscii(decodeURIComponent(path));
  } catch {
    return foldAscii(path);
  }
}

// Easy Auth v2 names users by their Entra object id, sent as `oid` (and, in Easy Auth's list,
// under its WS-Federation name).
const OBJECT_ID_CLAIMS = ['oid', 'http://schemas.microsoft.com/identity/claims/objectidentifier'];
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Entra sends object ids lower-case; a GUID is the same in either case (RFC 9562 section 4). */
const objectId = (id: string) => (GUID.test(id) ? id.toLowerCase() : id);

function easyAuthRule({ allowedPrincipals }: DefaultAuthorizationPolicyConfig): {
  rule: AccessRuleConfig;
  text: string;
} {
  const groups = allowedPrincipals.groups?.map(objectId);
  const users = allowedPrincipals.identities?.map(objectId);
  const allow: ConditionConfig = {
    ...(groups && { groups }),
    ...(users && { claims: Object.fromEntries(OBJECT_ID_CLAIMS.map((typ) => [typ, users])) }),
  };
  const text = [
    groups && `members of ${orList(groups)}`,
    users && `${users.length > 1 ? 'the users' : 'the user'} ${orList(users)}`,
  ]
    .filter(Boolean)
    .join(' or ');
  return { rule: { allow, private: false }, text };
}

function compileRule(source: string, config: AccessRuleConfig, text?: string): AccessRule {
  const effect = config.allow ? 'allow' : 'deny';
  const condition = compileCondition((config.allow ?? config.deny)!);
  const { paths, methods } = config;
  return {
    source,
    effect,
    describe: config.private ? undefined : (config.description ?? text ?? condition.text),
    description: config.private ? undefined : config.description,
    paths,
    loosePaths: paths?.map(looseForm),
    methods: methods && new Set(methods.map(upperAscii)),
    condition,
    require:
      'require' in config && config.require ? { mfa: config.require.mfa, maxAgeMs: config.require.maxAge } : undefined,
  };
}

/**
 * The policy of an app or client; undefined when it has none (every signed-in user gets in).
 * `where` prefixes the rules' places where `access[2]` alone would not say whose (`admin.`).
 */
export function compilePolicy(config: AccessConfig, where = ''): AccessPolicy | undefined {
  let rules: AccessRule[];
  if (config.access) rules = config.access.map((rule, i) => compileRule(`${where}access[${i}]`, rule));
  else if (config.defaultAuthorizationPolicy) {
    const { rule, text } = easyAuthRule(config.defaultAuthorizationPolicy);
    rules = [compileRule('defaultAuthorizationPolicy', rule, text)];
  } else return undefined;
  return {
    rules,
    decided: new WeakMap(),
    readsRequest: rules.some((rule) => rule.paths !== undefined || rule.methods !== undefined),
    readsMemberships: rules.some((rule) => rule.condition.needsMemberships),
  };
}

/** The request as rules compare it; path and method undefined when absent or not canonical. */
interface Target {
  readonly path: string | undefined;
  readonly loosePath: string | undefined;
  readonly method: string | undefined;
}

function applies(rule: AccessRule, target: Target): boolean {
  // What cannot be placed (a path that is not canonical, no path or method at all) falls under
  // every deny rule that names paths or methods, and under no such allow rule.
  const unplaced = rule.effect === 'deny';
  if (rule.paths) {
    if (target.path === undefined) {
      if (!unplaced) return false;
    } else if (rule.effect === 'allow') {
      if (!rule.paths.some((pattern) => pathMatches(target.path!, pattern))) return false;
    } else if (!rule.loosePaths!.some((pattern) => pathMatches(target.loosePath!, pattern))) return false;
  }
  if (rule.methods) return target.method === undefined ? unplaced : rule.methods.has(target.method);
  return true;
}

function factsUsed(subject: AccessSubject, reading: Reading): AccessDecision['used'] {
  const { groups, roles } = subject.memberships;
  return {
    ...(reading.groups && { groups: [...groups].sort() }),
    ...(reading.roles && { roles: [...roles].sort() }),
    ...(reading.claimTypes.size > 0 && {
      claims: subject.claims.filter((claim) => reading.claimTypes.has(claim.typ)),
    }),
  };
}

/** Whether `subject` may make `request` under `policy` (undefined: no rules, everyone signed in may). */
export function decide(
  policy: AccessPolicy | undefined,
  subject: AccessSubject,
  request: AccessRequest,
): AccessDecision {
  if (!policy) return { allowed: true, reason: 'no access rules: every signed-in user gets in', used: {} };
  const path = request.path === undefined ? undefined : canonicalPath(request.path);
  const target: Target = {
    path,
    loosePath: path === undefined ? undefined : looseForm(path),
    method: request.method === undefined ? undefined : upperAscii(request.method),
  };
  const applying = policy.readsRequest ? policy.rules.map((rule) => (applies(rule, target) ? '1' : '0')).join('') : '';
  const decisions = policy.decided.get(subject) ?? new Map<string, AccessDecision>();
  policy.decided.set(subject, decisions);
  const decision = decisions.get(applying) ?? decideAmong(policy, subject, (index) => applying[index] !== '0');
  decisions.set(applying, decision);
  return decision;
}

/**
 * Whether `subject` may use the admin console (README, "Admin console"): never while it is off
 * (no policy: `admin.access` lists no rules), never for an application presenting a provider's
 * token (only a person signed in to SignOnce administers), else the first rule that matches
 * decides and none refuses (default deny, as every policy).
 */
export function decideAdmin(policy: AccessPolicy | undefined, subject: AccessSubject): AccessDecision {
  if (!policy) return { allowed: false, reason: 'the admin console is off (admin.access lists no rules)', used: {} };
  if (subject.application)
    return { allowed: false, reason: "an application's token cannot administer: sign in to SignOnce", used: {} };
  return decide(policy, subject, {});
}

/** The decision among the rules that apply (by index). */
function decideAmong(
  policy: AccessPolicy,
  subject: AccessSubject,
  applying: (index: number) => boolean,
): AccessDecision {
  const facts = new Facts(subject);
  const failed = newReading();
  const wouldLetIn: string[] = [];
  for (const [index, rule] of policy.rules.entries()) {
    if (!applying(index)) continue;
    facts.reading = newReading();
    const matched = rule.condition.test(facts);
    if (matched === undefined)
      return {
        allowed: false,
        rule: index,
        reason: `${rule.source} needs group or role memberships, which cannot be read now: ${subject.memberships.unavailable.join('; ')}`,
        requirement: rule.effect === 'allow' ? rule.describe : undefined,
        unavailable: subject.memberships.unavailable,
        used: factsUsed(subject, facts.reading),
      };
    if (matched && rule.effect === 'allow')
      return {
        allowed: true,
        rule: index,
        reason: `${rule.source} lets this user in`,
        require: rule.require,
        used: factsUsed(subject, facts.reading),
      };
    if (matched)
      return {
        allowed: false,
        rule: index,
        reason: `${rule.source} refuses this user`,
        requirement: rule.description,
        used: factsUsed(subject, facts.reading),
      };
    failed.groups ||= facts.reading.groups;
    failed.roles ||= facts.reading.roles;
    for (const typ of facts.reading.claimTypes) failed.claimTypes.add(typ);
    if (rule.effect === 'allow' && rule.describe !== undefined && !wouldLetIn.includes(rule.describe))
      wouldLetIn.push(rule.describe);
  }
  return {
    allowed: false,
    reason: 'no access rule lets this user in',
    requirement: wouldLetIn.length ? wouldLetIn.join('; or ') : undefined,
    used: factsUsed(subject, failed),
  };
}
