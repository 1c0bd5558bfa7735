// The one seam between SignOnce and what it persists. Every implementation passes the conformance
// suite in test/store/conformance.ts unchanged. Secrets never reach an implementation in clear:
// provider tokens, session data, code payloads, TOTP secrets and private keys are sealed by the key
// ring before they are written, and bearer secrets (session ids, one-time codes, recovery codes) are
// stored only as hashes.
import { CodedError } from '../errors/index.ts';
import type { SigningKey } from '../crypto/signing-keys.ts';

export type { SigningKey };

export interface Account {
  readonly id: string;
  readonly createdAt: number;
  /** When it was disabled: no one signs in to it, and its sessions are not live. */
  readonly disabledAt?: number;
}

/** One identity at one provider, linked to one account. */
export interface Identity {
  readonly provider: string;
  readonly subject: string;
  readonly accountId: string;
  readonly createdAt: number;
  /** What the provider said of it at its last sign-in (name, claims), sealed at rest. */
  readonly profile?: Readonly<Record<string, unknown>>;
}

/** Which tokens: one set per (account, provider, resource); `resource` is '' for the sign-in's own. */
export interface TokenRef {
  readonly accountId: string;
  readonly provider: string;
  readonly resource: string;
}

/** Provider tokens as the provider issued them. Times are milliseconds since the epoch. */
export interface ProviderTokens {
  readonly accessToken?: string;
  readonly refreshToken?: string;
  readonly idToken?: string;
  /** OAuth 1.0a token secret (Twitter). */
  readonly accessTokenSecret?: string;
  readonly expiresAt?: number;
  /** When SignOnce last refreshed them (not set by a sign-in). */
  readonly refreshedAt?: number;
  readonly scope?: string;
  readonly tokenType?: string;
}

export interface StoredTokens extends TokenRef {
  readonly tokens: ProviderTokens;
  readonly updatedAt: number;
}

export interface Session {
  /** The hash of the session's bearer secret: safe to log and to use as a reference. */
  readonly ref: string;
  readonly accountId: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** When it was last used, as far as the store was told (`touchSession`); at first its creation. */
  readonly lastSeenAt: number;
  /** The device it was signed in on (`NewSession.device`). */
  readonly userAgent?: string;
  readonly address?: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** Where a session was signed in: not secrets, kept in clear and cut to AUDIT_TEXT_MAX characters. */
export interface SessionDevice {
  /** The browser's User-Agent header. */
  readonly userAgent?: string | undefined;
  /** The client's address (through trusted proxies). */
  readonly address?: string | undefined;
}

export interface NewSession {
  readonly accountId: string;
  readonly lifetimeMs: number;
  readonly data?: Record<string, unknown>;
  readonly device?: SessionDevice;
}

/** A local account's credential (`type: password` providers). */
export interface PasswordCredential {
  readonly provider: string;
  readonly username: string;
  readonly accountId: string;
  /** An argon2id hash in PHC string form. */
  readonly passwordHash: string;
}

/** Failed sign-ins recorded under one throttling key. */
/** How long a passkey's name may be, in characters. */
export const PASSKEY_NAME_MAX = 64;

/** A WebAuthn credential (passkey) of a local account, as registered (WebAuthn Level 3 section 6.1). */
export interface WebAuthnCredential {
  /** The credential id, base64url: unique across every account. */
  readonly credentialId: string;
  readonly accountId: string;
  /** The credential public key (COSE_Key), base64url. */
  readonly publicKey: string;
  /** The signature counter last seen (section 6.1.1); 0 for authenticators that do not count. */
  readonly counter: number;
  /** How the browser may reach the authenticator (`internal`, `hybrid`, `usb`…), as it said. */
  readonly transports: readonly string[];
  /** `multiDevice` when the credential may be synced to other devices (backup eligible, section 6.1.3). */
  readonly deviceType: 'singleDevice' | 'multiDevice';
  /** Whether it is backed up now (the BS flag of its last use). */
  readonly backedUp: boolean;
  /** What the user called it, at most PASSKEY_NAME_MAX characters. */
  readonly name: string;
  readonly createdAt: number;
  /** When it last signed in; absent until then. */
  readonly lastUsedAt?: number;
}

export type NewWebAuthnCredential = Omit<WebAuthnCredential, 'createdAt' | 'lastUsedAt'>;

export interface SignInFailures {
  readonly failures: number;
  readonly lastFailureAt: number;
}

/** One artifact of the OpenID Provider (oidc-provider's adapter contract), as stored. */
export interface OidcArtifact {
  readonly payload: Readonly<Record<string, unknown>>;
  /** When it was consumed (a used code or rotated refresh token), ms since the epoch. */
  readonly consumedAt?: number;
}

/** Where a pass of `Store.resealBatch` goes on: opaque to callers. */
export interface ResealPosition {
  readonly table: string;
  readonly after?: readonly (string | number | null)[];
}

/** What each encryption key (by key id) still protects (see `signonce keys status`). */
export interface KeyUsage {
  /** Stored values sealed under each key, per table. */
  readonly sealed: ReadonlyArray<{ readonly table: string; readonly keyId: string; readonly values: number }>;
  /**
   * Sessions not yet purged, by the key their cookies were sealed under (cookies live in browsers
   * and cannot be re-sealed); `keyId` null: issued before SignOnce recorded it. `until`: the
   * latest expiry among them.
   */
  readonly sessions: ReadonlyArray<{
    readonly keyId: string | null;
    readonly sessions: number;
    readonly until: number;
  }>;
}

/** One of SignOnce's own groups (`signonce groups`), with how many accounts belong to it. */
export interface GroupSummary {
  readonly name: string;
  readonly members: number;
}

export interface GroupMember {
  readonly accountId: string;
  readonly addedAt: number;
}

/** Groups and roles, as a provider says an account has them. */
export interface GroupsAndRoles {
  readonly groups: readonly string[];
  readonly roles: readonly string[];
}

/** What was last read of an account's memberships at one provider (sealed at rest), and when. */
export interface ProviderGroups extends GroupsAndRoles {
  readonly accountId: string;
  readonly provider: string;
  readonly readAt: number;
}

export interface PurgeCounts {
  readonly sessions: number;
  readonly codes: number;
  readonly oidcArtifacts: number;
  readonly signInFailures: number;
  readonly seenTokens: number;
  readonly auditEvents: number;
}

/** What an audit event records (see `Store.appendAudit`): never a secret or a token. */
export interface NewAuditEvent {
  /** What happened: the kinds SignOnce records are src/audit's AuditKind (README, "Audit log"). */
  readonly kind: string;
  readonly outcome?: string | undefined;
  readonly accountId?: string | undefined;
  /** Who acted: an account id, `cli` or `system`. */
  readonly actor?: string | undefined;
  readonly app?: string | undefined;
  readonly address?: string | undefined;
  readonly userAgent?: string | undefined;
  readonly requestId?: string | undefined;
  /** Small and JSON-serialisable (at most AUDIT_DETAIL_MAX characters once serialised). */
  readonly detail?: unknown;
}

export interface AuditEvent extends NewAuditEvent {
  /** Increasing in the order events were appended: the cursor of `listAudit`. */
  readonly id: number;
  /** Milliseconds since the epoch. */
  readonly at: number;
}

export interface AuditQuery {
  /** Events at or after / before these times (ms). */
  readonly since?: number | undefined;
  readonly until?: number | undefined;
  readonly accountId?: string | undefined;
  readonly kinds?: readonly string[] | undefined;
  readonly limit: number;
  /** Only events older than this id: the last id of the previous page. */
  readonly before?: number | undefined;
}

/** What `Store.auditCounts` counts: events at or after `since` and before `until` (ms), per bucket. */
export interface AuditCountsQuery {
  readonly since: number;
  readonly until: number;
  /** The width of a bucket in ms, a positive integer: an event at `at` counts in floor(at / bucketMs) * bucketMs. */
  readonly bucketMs: number;
  /** Only these kinds (every kind when absent or empty, as listAudit). */
  readonly kinds?: readonly string[] | undefined;
}

/** How many events of one kind, outcome, reason and provider fell in one bucket. */
export interface AuditCount {
  /** The bucket's start, ms since the epoch (a multiple of bucketMs). */
  readonly bucket: number;
  readonly kind: string;
  readonly outcome?: string;
  /** `detail.reason` and `detail.provider` when they are strings; absent otherwise. */
  readonly reason?: string;
  readonly provider?: string;
  readonly count: number;
}

/** Longest text kept of an audit event's fields (longer is cut), and of its serialised detail. */
export const AUDIT_TEXT_MAX = 512;
export const AUDIT_DETAIL_MAX = 4096;

/**
 * What changed in the store, for caches of it (see `Store.watch`). Changes made through this Store
 * are reported before the call that made them resolves; other instances' through the database.
 */
export type StoreChange =
  /** A session was revoked (signed out). */
  | { readonly kind: 'session-ended'; readonly ref: string }
  /** The account's sessions, tokens, identities, second factors or the account itself changed. */
  | { readonly kind: 'account-changed'; readonly accountId: string }
  | { readonly kind: 'signing-keys-changed' }
  /** Other instances' changes can no longer be heard (the database went away): trust no cache. */
  | { readonly kind: 'deaf' }
  /** They are heard again; anything may have changed meanwhile. */
  | { readonly kind: 'hearing' };

export interface PurgeKeep {
  readonly renewableMs?: number;
  readonly signInFailuresMs?: number;
  readonly auditMs?: number;
}

export interface Store {
  /** `sqlite` or `postgres`. */
  readonly kind: string;

  /**
   * Calls `listener` with every change that concerns caches: those made through this Store, and
   * on PostgreSQL those of every other instance on the database (LISTEN/NOTIFY), within
   * milliseconds. SQLite has no other instance to hear. Returns a function that stops it.
   */
  watch(listener: (change: StoreChange) => void): () => void;

  /** Resolves when the store answers a query; rejects otherwise (readiness). */
  ping(): Promise<void>;
  /** Waits for pending work, then releases every connection or file handle. */
  close(): Promise<void>;

  getAccount(id: string): Promise<Account | undefined>;
  /**
   * Disables the account (a time) or enables it again (null), telling of the change; false when
   * unknown. While disabled, none of its sessions is live (getSession*, renewSession).
   */
  setAccountDisabled(accountId: string, disabledAt: number | null): Promise<boolean>;
  /**
   * The account of an identity, creating both when the identity is new. Atomic: two sign-ins of one
   * new identity at the same moment end in one account.
   */
  resolveIdentity(provider: string, subject: string): Promise<{ account: Account; created: boolean }>;
  findIdentity(provider: string, subject: string): Promise<Identity | undefined>;
  listIdentities(accountId: string): Promise<Identity[]>;
  /** Links an identity to an existing account; throws IdentityConflictError if it belongs to another. */
  linkIdentity(accountId: string, provider: string, subject: string): Promise<Identity>;
  /**
   * Records what a sign-in learnt of an identity: its `profile`, and `emailKey` (a keyed hash of a
   * verified e-mail, for linking by e-mail; null removes it).
   */
  updateIdentity(
    provider: string,
    subject: string,
    update: { profile: Record<string, unknown>; emailKey: string | null },
  ): Promise<void>;
  /** The identities recorded with this e-mail key, oldest first. */
  findIdentitiesByEmailKey(emailKey: string): Promise<Identity[]>;
  /**
   * Removes an identity from its account, with the account's tokens and memberships read from that
   * provider (which of the provider's identities they came from is not known), atomically;
   * throws LastIdentityError when it is the account's only one (an account no one could sign in to).
   * False when the account has no such identity.
   */
  unlinkIdentity(accountId: string, provider: string, subject: string): Promise<boolean>;
  /**
   * Deletes an account with its identities, credentials, second factors, recovery codes, tokens,
   * sessions, OpenID Provider artifacts and group memberships, in one transaction; false when unknown.
   */
  deleteAccount(accountId: string): Promise<boolean>;

  /**
   * A new local account: the account, its identity (provider, username) and its credential, in one
   * transaction; throws UsernameTakenError when the username is taken at that provider.
   */
  createPasswordAccount(provider: string, username: string, passwordHash: string): Promise<PasswordCredential>;
  getPasswordCredential(provider: string, username: string): Promise<PasswordCredential | undefined>;
  /** Changes a credential's hash; false when there is none. */
  updatePasswordCredential(provider: string, username: string, change: { passwordHash: string }): Promise<boolean>;

  /**
   * Keeps the account's TOTP secret (RFC 6238), sealed, replacing any, with the time step of the
   * code that proved it: codes of that step and earlier are not accepted again. Tells `account-changed`.
   */
  putTotpSecret(accountId: string, secret: string, usedStep: number): Promise<void>;
  getTotpSecret(accountId: string): Promise<string | undefined>;
  /**
   * Records that a code of time step `step` was accepted, atomically and only if `step` is later
   * than the last one recorded: false for a replay (RFC 6238 section 5.2) or an account without TOTP.
   */
  useTotpStep(accountId: string, step: number): Promise<boolean>;
  /** Replaces every recovery code of the account by these (keyed hashes, never the codes), in one transaction. */
  replaceRecoveryCodes(accountId: string, codeHashes: readonly string[]): Promise<void>;
  /** Uses an unused recovery code of the account, atomically: of concurrent callers exactly one gets true. */
  useRecoveryCode(accountId: string, codeHash: string): Promise<boolean>;
  /** How many of the account's recovery codes are unused. */
  countRecoveryCodes(accountId: string): Promise<number>;
  /**
   * Deletes the account's second factors and recovery codes in one transaction (turned off, or
   * reset by an admin); false when it had none. Tells `account-changed`.
   */
  deleteSecondFactors(accountId: string): Promise<boolean>;

  /**
   * Registers a passkey of the account; undefined when its credential id is registered already (to
   * this or any account: ids are unique). Throws a RangeError for a name longer than
   * PASSKEY_NAME_MAX. Tells `account-changed`.
   */
  addWebAuthnCredential(credential: NewWebAuthnCredential): Promise<WebAuthnCredential | undefined>;
  /** The account's passkeys, oldest first. */
  listWebAuthnCredentials(accountId: string): Promise<WebAuthnCredential[]>;
  findWebAuthnCredential(credentialId: string): Promise<WebAuthnCredential | undefined>;
  /**
   * Records a use of the passkey at the store's time with the counter and backed-up flag its
   * authenticator reported, atomically and only if the counter is greater than the stored one, or
   * both are 0 (an authenticator that does not count, WebAuthn Level 3 section 6.1.1): false
   * otherwise (a replayed or cloned credential) or when there is no such credential.
   */
  useWebAuthnCredential(credentialId: string, counter: number, backedUp: boolean): Promise<boolean>;
  /** Renames a passkey of the account; false when the account has no such passkey. RangeError as for adding. */
  renameWebAuthnCredential(accountId: string, credentialId: string, name: string): Promise<boolean>;
  /** Deletes a passkey of the account; false when the account has no such passkey. Tells `account-changed`. */
  deleteWebAuthnCredential(accountId: string, credentialId: string): Promise<boolean>;

  /**
   * The OpenID Provider's artifacts (oidc-provider models): `id`, `uid` and `userCode` are bearer
   * values, kept only as hashes; the payload is sealed. `expiresAt` in ms; expired ones are not found.
   */
  upsertOidcArtifact(
    model: string,
    id: string,
    payload: Record<string, unknown>,
    expiresAt: number | undefined,
  ): Promise<void>;
  findOidcArtifact(
    model: string,
    by: { id: string } | { uid: string } | { userCode: string },
  ): Promise<OidcArtifact | undefined>;
  /** Marks it consumed (once: a second call keeps the first time). */
  consumeOidcArtifact(model: string, id: string): Promise<void>;
  destroyOidcArtifact(model: string, id: string): Promise<void>;
  /** Deletes every artifact of a grant (its codes and tokens): a revoked grant. */
  revokeOidcGrant(grantId: string): Promise<void>;
  /** The account's live (unexpired) artifacts of `model` (e.g. its grants), oldest first: their payloads. */
  listOidcArtifactsOfAccount(model: string, accountId: string): Promise<Array<Readonly<Record<string, unknown>>>>;
  /** Deletes the account's artifacts of `model` (e.g. its sessions), returning their payloads. */
  takeOidcArtifactsOfAccount(model: string, accountId: string): Promise<Array<Readonly<Record<string, unknown>>>>;
  /** Deletes every artifact of the account, of every model (its grants, codes, tokens, sessions); how many. */
  deleteOidcArtifactsOfAccount(accountId: string): Promise<number>;

  /** Counts one more failed sign-in under `keyHash`, atomically; the count after it. */
  recordSignInFailure(keyHash: string): Promise<SignInFailures>;
  getSignInFailures(keyHash: string): Promise<SignInFailures | undefined>;
  clearSignInFailures(keyHash: string): Promise<void>;

  putTokens(ref: TokenRef, tokens: ProviderTokens): Promise<void>;
  /**
   * Merges what a sign-in brought into the set stored, under the lock of `changeTokens` (a
   * concurrent refresh is never lost, nor does it undo the sign-in): each kind of token `tokens`
   * holds replaces its own kind — the access token with its expiry, scope, type, refresh time and
   * OAuth 1.0a secret; the refresh token; the ID token — and nothing it lacks is removed (a
   * response without a refresh token leaves the one held valid: RFC 6749 section 6). The set after.
   */
  mergeTokens(ref: TokenRef, tokens: ProviderTokens): Promise<StoredTokens>;
  getTokens(ref: TokenRef): Promise<StoredTokens | undefined>;
  listTokens(accountId: string): Promise<StoredTokens[]>;
  /**
   * Changes one set of tokens under an exclusive lock (PostgreSQL: across every instance; SQLite:
   * within the process): `change` gets the set as stored now and returns new tokens to store,
   * `undefined` to leave it, or `null` to delete it. Of concurrent callers, each runs after the
   * previous one finished and sees its result. What `change` throws leaves the set untouched.
   */
  changeTokens(
    ref: TokenRef,
    change: (current: StoredTokens | undefined) => Promise<ProviderTokens | null | undefined>,
  ): Promise<StoredTokens | undefined>;
  /** Deletes one set, or every set of the account when `provider` is omitted; returns how many. */
  deleteTokens(accountId: string, provider?: string, resource?: string): Promise<number>;

  /**
   * Makes existing accounts members of SignOnce's own `group` (ids of no account are skipped);
   * how many became members (those already in it do not count). Tells `account-changed` for each.
   */
  addGroupMembers(group: string, accountIds: readonly string[]): Promise<number>;
  /** Ends the accounts' membership of `group`; how many were members. Tells `account-changed` for each. */
  removeGroupMembers(group: string, accountIds: readonly string[]): Promise<number>;
  /** The members of `group`, first added first (none: no such group). */
  listGroupMembers(group: string): Promise<GroupMember[]>;
  /** Every group with at least one member, by name. */
  listGroups(): Promise<GroupSummary[]>;
  /** The groups the account is a member of, by name. */
  groupsOf(accountId: string): Promise<string[]>;
  /**
   * Records the groups and roles just read from `provider` for the account (replacing what was
   * read before), read at `readAt` (default now). Tells `account-changed`.
   */
  putProviderGroups(accountId: string, provider: string, memberships: GroupsAndRoles, readAt?: number): Promise<void>;
  /** What was last read of the account's memberships, per provider, by provider id. */
  listProviderGroups(accountId: string): Promise<ProviderGroups[]>;

  /** Creates a session; `secret` is its bearer value, returned only here. */
  createSession(session: NewSession): Promise<{ secret: string; session: Session }>;
  /** The live session of a bearer secret; undefined when unknown, expired or revoked. */
  getSession(secret: string): Promise<Session | undefined>;
  /**
   * The live session with this reference (`Session.ref`, as tokens carry it in `sid`); with
   * `expiredWithinMs`, also one that expired at most that long ago (not revoked).
   */
  getSessionByRef(ref: string, expiredWithinMs?: number): Promise<Session | undefined>;
  /**
   * Makes a session end `lifetimeMs` from now, if it is live or expired at most `expiredWithinMs`
   * ago, atomically (a session revoked meanwhile stays revoked); the renewed session, or undefined.
   */
  renewSession(ref: string, lifetimeMs: number, expiredWithinMs?: number): Promise<Session | undefined>;
  /** Revokes by bearer secret (expired ones too); true when there was a session to revoke. */
  revokeSession(secret: string): Promise<boolean>;
  /** Revokes by reference (a token's `sid`); true when there was a session to revoke. */
  revokeSessionByRef(ref: string): Promise<boolean>;
  /** Revokes every session of an account, expired ones too; returns how many. */
  revokeAccountSessions(accountId: string): Promise<number>;
  /** Every session of an account not yet purged, expired ones too (what revoking could still end), oldest first. */
  listAccountSessions(accountId: string): Promise<Session[]>;
  /**
   * Records that a live session was used at `at`: its `lastSeenAt` becomes the later of the two
   * (uses told late or by instances whose clocks differ never move it back). Tells no change:
   * caches need not forget a session for being used.
   */
  touchSession(ref: string, at: number): Promise<void>;

  /**
   * Remembers `value` under `kind` until `expiresAt` (kept only as a SHA-256 hash), atomically:
   * true when it was not remembered already (or its memory had expired), false for a repeat — of
   * any number of concurrent callers with one value, exactly one gets true. A repeat keeps the
   * later of the two expiries.
   */
  rememberOnce(kind: string, value: string, expiresAt: number): Promise<boolean>;

  /** Issues a single-use code carrying `payload`; `purpose` must be given again to consume it. */
  issueCode(purpose: string, payload: unknown, ttlMs: number): Promise<string>;
  /** The payload of a live code, removing it: of any number of concurrent callers, exactly one gets it. */
  consumeCode(purpose: string, code: string): Promise<unknown>;

  addSigningKey(key: Omit<SigningKey, 'createdAt' | 'retiredAt'>): Promise<SigningKey>;
  listSigningKeys(): Promise<SigningKey[]>;
  retireSigningKey(kid: string): Promise<void>;

  /**
   * A random 256-bit secret kept under `name`, made on first use: every instance, at any time, gets
   * the same bytes (concurrent first uses included). Sealed at rest.
   */
  instanceSecret(name: string): Promise<Buffer>;

  /** How many stored values and session cookies each encryption key protects. */
  keyUsage(): Promise<KeyUsage>;
  /**
   * Re-seals under the sealing key (the first of `secrets.encryptionKeys`) up to `limit` values
   * sealed under another key, each only if no one changed it meanwhile, going through the tables
   * in key order from `from` (the `next` of the previous batch; from the start without it): how
   * many values it handled, and where the next batch goes on (none: every table was gone through).
   * Throws SealedValueError for a value under a key that is not configured.
   */
  resealBatch(limit: number, from?: ResealPosition): Promise<{ values: number; next?: ResealPosition }>;

  /**
   * Deletes what can no longer be used: expired codes (sign-in states among them) and OpenID
   * Provider artifacts, sessions expired more than `renewableMs` ago (those within it may still be
   * renewed: the authentication-token refresh grace), values remembered until a time now past
   * (`rememberOnce`), and, when `signInFailuresMs` is given,
   * sign-in failures older than that, and when `auditMs` is given, audit events older than that. In batches: no long locks. How many of each went.
   */
  purgeExpired(keep?: PurgeKeep): Promise<PurgeCounts>;

  /**
   * Records an audit event at the store's time; its text fields are cut to AUDIT_TEXT_MAX
   * characters. Throws a RangeError for a detail longer than AUDIT_DETAIL_MAX once serialised.
   * Events are never changed or deleted but by retention (`purgeExpired`'s `auditMs`).
   */
  appendAudit(event: NewAuditEvent): Promise<AuditEvent>;
  /** Audit events matching every filter given, newest first, at most `limit`. */
  listAudit(query: AuditQuery): Promise<AuditEvent[]>;
  /**
   * Audit events counted by bucket of time, kind, outcome, `detail.reason` and `detail.provider`,
   * in the database (the dashboard's figures: no event is read out); ordered by bucket, kind,
   * outcome, reason, provider (absent first). An empty range counts nothing. Throws a RangeError
   * for a bucketMs that is not a positive integer.
   */
  auditCounts(query: AuditCountsQuery): Promise<AuditCount[]>;
}

export class IdentityConflictError extends CodedError {
  static readonly code = 'ERR_IDENTITY_CONFLICT';
  readonly code = IdentityConflictError.code;
  constructor(provider: string) {
    super(`this ${provider} identity is already linked to another account`);
  }
}

export class UsernameTakenError extends CodedError {
  static readonly code = 'ERR_USERNAME_TAKEN';
  readonly code = UsernameTakenError.code;
  constructor() {
    super('this username is taken');
  }
}

export class LastIdentityError extends CodedError {
  static readonly code = 'ERR_LAST_IDENTITY';
  readonly code = LastIdentityError.code;
  constructor() {
    super("this is the account's only identity: unlinking it would leave an account no one can sign in to");
  }
}

/** The store cannot be used: unreachable, or its schema is newer than this SignOnce. */
export class StoreUnavailableError extends CodedError {
  static readonly code = 'ERR_STORE_UNAVAILABLE';
  readonly code = StoreUnavailableError.code;
}
