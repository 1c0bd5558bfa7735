// Access control as the gateway and the OpenID Provider ask it: each app's and client's policy,
// compiled once from the config, and the subject a decision reads — memberships only when the
// policy reads groups or roles (they cost store reads, and a provider call when stale).
import type { Config } from '../config/index.ts';
import type { Claim } from '../providers/index.ts';
import type { MembershipReader } from './memberships.ts';
import { compilePolicy, decide, decideAdmin, type AccessDecision, type AccessPolicy } from './rules.ts';
import type { AccessSubject, Memberships } from './types.ts';

const NO_MEMBERSHIPS: Memberships = { groups: new Set(), roles: new Set(), unavailable: [] };

/** The identity a session signed in with, as far as access rules read it. */
export interface SignedInAs {
  readonly provider: string;
  readonly claims: readonly Claim[];
}

export class AccessControl {
  readonly #apps: ReadonlyMap<string, AccessPolicy | undefined>;
  readonly #clients: ReadonlyMap<string, AccessPolicy | undefined>;
  readonly #admin: AccessPolicy | undefined;
  readonly #trustEmail: ReadonlySet<string>;
  readonly #memberships: Pick<MembershipReader, 'read'>;

  constructor(
    config: Pick<Config, 'apps' | 'clients' | 'providers' | 'admin'>,
    memberships: Pick<MembershipReader, 'read'>,
  ) {
    this.#apps = new Map(config.apps.map((app) => [app.id, compilePolicy(app)]));
    this.#clients = new Map(config.clients.map((client) => [client.id, compilePolicy(client)]));
    // No rules: the console is off (an empty policy would refuse everyone just the same, but
    // "off" lets the gateway answer 404 and `signonce check` say so).
    this.#admin = config.admin.access.length ? compilePolicy(config.admin, 'admin.') : undefined;
    this.#trustEmail = new Set(config.providers.filter((p) => p.trustEmail).map((p) => p.id));
    this.#memberships = memberships;
  }

  appPolicy(appId: string): AccessPolicy | undefined {
    return this.#apps.get(appId);
  }

  clientPolicy(clientId: string): AccessPolicy | undefined {
    return this.#clients.get(clientId);
  }

  /** The admin console's policy; undefined when the console is off (admin.access lists no rules). */
  adminPolicy(): AccessPolicy | undefined {
    return this.#admin;
  }

  /**
   * Who asks, with the memberships `policy` reads (none read when it reads none, or there is no
   * policy, or no account); `application` for a provider's bearer token (AccessSubject).
   */
  async subject(
    accountId: string | undefined,
    identity: SignedInAs,
    policy: AccessPolicy | undefined,
    application?: AccessSubject['application'],
  ): Promise<AccessSubject> {
    return {
      accountId,
      provider: identity.provider,
      claims: identity.claims,
      emailTrusted: this.#trustEmail.has(identity.provider),
      memberships:
        policy?.readsMemberships && accountId !== undefined ? await this.#memberships.read(accountId) : NO_MEMBERSHIPS,
      ...(application && { application }),
    };
  }

  /** The decision for an OpenID client's sign-in (no path or method). */
  async forClient(clientId: string, accountId: string, identity: SignedInAs): Promise<AccessDecision> {
    const policy = this.#clients.get(clientId);
    return decide(policy, await this.subject(accountId, identity, policy), {});
  }

  /** Whether a session's account and identity may administer (decideAdmin); refused while the console is off. */
  async forAdmin(accountId: string, identity: SignedInAs): Promise<AccessDecision> {
    return decideAdmin(this.#admin, await this.subject(accountId, identity, this.#admin));
  }
}
