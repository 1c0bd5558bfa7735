// Store over any SqlDriver: every rule (what is sealed, what is hashed, what is atomic) lives here
// once, whichever database is underneath.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Binding, Keyring } from '../crypto/keyring.ts';
import { timedDriver, type Row, type SqlDriver, type SqlExecutor, type SqlValue } from './driver.ts';
import { mergedTokens } from './merge-tokens.ts';
import {
  AUDIT_DETAIL_MAX,
  AUDIT_TEXT_MAX,
  IdentityConflictError,
  LastIdentityError,
  PASSKEY_NAME_MAX,
  UsernameTakenError,
  type Account,
  type AuditCount,
  type AuditCountsQuery,
  type AuditEvent,
  type AuditQuery,
  type NewAuditEvent,
  type PurgeKeep,
  type GroupMember,
  type GroupSummary,
  type GroupsAndRoles,
  type KeyUsage,
  type OidcArtifact,
  type ResealPosition,
  type PasswordCredential,
  type SignInFailures,
  type Identity,
  type NewSession,
  type ProviderTokens,
  type ProviderGroups,
  type PurgeCounts,
  type Session,
  type SigningKey,
  type Store,
  type StoreChange,
  type StoredTokens,
  type TokenRef,
  type NewWebAuthnCredential,
  type WebAuthnCredential,
} from './types.ts';

export interface StoreOptions {
  readonly keyring: Keyring;
  /** Milliseconds since the epoch; replaceable so tests can move time. */
  readonly now?: () => number;
  /** Told how long each statement, transaction and locked section took (metrics). */
  readonly observe?: (operation: 'query' | 'transaction' | 'locked', seconds: number) => void;
}

/** A new bearer secret: 256 random bits, base64url. */
function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** What is stored in place of a bearer secret: a stolen database yields no usable session or code. */
function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

const binding = {
  tokens: (ref: TokenRef): Binding => ({
    purpose: 'provider-tokens',
    owner: [ref.accountId, ref.provider, ref.resource],
  }),
  session: (idHash: string, accountId: string): Binding => ({ purpose: 'session', owner: [idHash, accountId] }),
  code: (codeHash: string, purpose: string): Binding => ({ purpose: 'one-time-code', owner: [codeHash, purpose] }),
  signingKey: (kid: string): Binding => ({ purpose: 'signing-key', owner: [kid] }),
  instanceSecret: (name: string): Binding => ({ purpose: 'instance-secret', owner: [name] }),
  profile: (provider: string, subject: string): Binding => ({
    purpose: 'identity-profile',
    owner: [provider, subject],
  }),
  oidc: (model: string, idHash: string): Binding => ({ purpose: 'oidc-artifact', owner: [model, idHash] }),
  providerGroups: (accountId: string, provider: string): Binding => ({
    purpose: 'provider-groups',
    owner: [accountId, provider],
  }),
  secondFactor: (accountId: string, kind: string): Binding => ({ purpose: 'second-factor', owner: [accountId, kind] }),
};

/** The kind of second factor an RFC 6238 secret is (second_factors.kind). */
const TOTP = 'totp';

/**
 * Every sealed column, with its row's key and how to rebuild its binding from the row: what
 * `signonce keys rotate` re-seals and `keys status` counts. A new sealed column goes here too.
 */
const SEALED_COLUMNS: ReadonlyArray<{
  table: string;
  column: string;
  key: readonly string[];
  binding: (row: Row) => Binding;
}> = [
  {
    table: 'identities',
    column: 'sealed_profile',
    key: ['provider', 'subject'],
    binding: (r) => binding.profile(String(r.provider), String(r.subject)),
  },
  {
    table: 'provider_tokens',
    column: 'sealed',
    key: ['account_id', 'provider', 'resource'],
    binding: (r) =>
      binding.tokens({ accountId: String(r.account_id), provider: String(r.provider), resource: String(r.resource) }),
  },
  {
    table: 'sessions',
    column: 'sealed_data',
    key: ['id_hash', 'account_id'],
    binding: (r) => binding.session(String(r.id_hash), String(r.account_id)),
  },
  {
    table: 'one_time_codes',
    column: 'sealed_payload',
    key: ['code_hash', 'purpose'],
    binding: (r) => binding.code(String(r.code_hash), String(r.purpose)),
  },
  {
    table: 'signing_keys',
    column: 'sealed_private_jwk',
    key: ['kid'],
    binding: (r) => binding.signingKey(String(r.kid)),
  },
  {
    table: 'instance_secrets',
    column: 'sealed',
    key: ['name'],
    binding: (r) => binding.instanceSecret(String(r.name)),
  },
  {
    table: 'oidc_artifacts',
    column: 'sealed_payload',
    key: ['model', 'id_hash'],
    binding: (r) => binding.oidc(String(r.model), String(r.id_hash)),
  },
  {
    table: 'provider_groups',
    column: 'sealed_memberships',
    key: ['account_id', 'provider'],
    binding: (r) => binding.providerGroups(String(r.account_id), String(r.provider)),
  },
  {
    table: 'second_factors',
    column: 'sealed_secret',
    key: ['account_id', 'kind'],
    binding: (r) => binding.secondFactor(String(r.account_id), String(r.kind)),
  },
];
// A sealed value starts `v1.<key id>.`: the key id is the 11 characters after `v1.`.
const KEY_ID_OF_SEALED = (column: string) => `substr(${column}, 4, 11)`;

type WebAuthnCredentialRow = {
  credential_id: string;
  account_id: string;
  public_key: string;
  counter: number | string;
  transports: string;
  device_type: string;
  backed_up: number | string;
  name: string;
  created_at: number | string;
  last_used_at: number | string | null;
};
const WEBAUTHN_COLUMNS =
  'credential_id, account_id, public_key, counter, transports, device_type, backed_up, name, created_at, last_used_at';

function webAuthnCredentialOf(row: WebAuthnCredentialRow): WebAuthnCredential {
  return {
    credentialId: row.credential_id,
    accountId: row.account_id,
    publicKey: row.public_key,
    counter: Number(row.counter),
    transports: JSON.parse(row.transports) as string[],
    deviceType: row.device_type === 'multiDevice' ? 'multiDevice' : 'singleDevice',
    backedUp: Number(row.backed_up) === 1,
    name: row.name,
    createdAt: Number(row.created_at),
    ...(row.last_used_at === null ? {} : { lastUsedAt: Number(row.last_used_at) }),
  };
}

function checkPasskeyName(name: string): void {
  if (name.length > PASSKEY_NAME_MAX)
    throw new RangeError(`a passkey's name is at most ${PASSKEY_NAME_MAX} characters`);
}

type IdentityRow = {
  provider: string;
  subject: string;
  account_id: string;
  created_at: number;
  sealed_profile: string | null;
};
const IDENTITY_COLUMNS = 'provider, subject, account_id, created_at, sealed_profile';
type TokensRow = { account_id: string; provider: string; resource: string; sealed: string; updated_at: number };
type SessionRow = {
  id_hash: string;
  account_id: string;
  sealed_data: string;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
  user_agent: string | null;
  address: string | null;
};
const SESSION_COLUMNS = 'id_hash, account_id, sealed_data, created_at, expires_at, last_seen_at, user_agent, address';
// A session is live only while its account is enabled: one created by a sign-in that raced a
// disable is as dead as the ones the disable revoked.
const OF_ENABLED_ACCOUNT = 'account_id IN (SELECT id FROM accounts WHERE disabled_at IS NULL)';
type SigningKeyRow = {
  kid: string;
  alg: string;
  public_jwk: string;
  sealed_private_jwk: string;
  created_at: number;
  retired_at: number | null;
};

const PURGE_BATCH = 1000;

type AuditRow = {
  id: number;
  at: number;
  kind: string;
  outcome: string | null;
  account_id: string | null;
  actor: string | null;
  app: string | null;
  address: string | null;
  user_agent: string | null;
  request_id: string | null;
  detail: string | null;
};

/** `text` cut to AUDIT_TEXT_MAX characters (whole code points), or null: audit fields and session devices. */
function auditText(text: string | undefined): string | null {
  if (text === undefined) return null;
  return text.length <= AUDIT_TEXT_MAX ? text : [...text].slice(0, AUDIT_TEXT_MAX).join('');
}

/** Lists of optional texts in order, item by item: absent before any text, texts by code unit. */
function compareOptional(a: ReadonlyArray<string | undefined>, b: ReadonlyArray<string | undefined>): number {
  for (const [i, x] of a.entries()) {
    const y = b[i];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

function auditEventOf(row: AuditRow): AuditEvent {
  const optional = {
    outcome: row.outcome,
    accountId: row.account_id,
    actor: row.actor,
    app: row.app,
    address: row.address,
    userAgent: row.user_agent,
    requestId: row.request_id,
    detail: row.detail === null ? null : JSON.parse(row.detail),
  };
  return {
    id: Number(row.id),
    at: Number(row.at),
    kind: row.kind,
    ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== null)),
  };
}

/** Signals, inside a transaction, that it must roll back because another writer won a race. */
class LostRace extends Error {}

/** A change another instance broadcast, if `message` is one (anything else is ignored). */
function changeOf(message: string): StoreChange | undefined {
  let change: unknown;
  try {
    change = JSON.parse(message);
  } catch {
    return undefined;
  }
  const { kind, ref, accountId } = (change ?? {}) as Record<string, unknown>;
  if (kind === 'session-ended' && typeof ref === 'string') return { kind, ref };
  if (kind === 'account-changed' && typeof accountId === 'string') return { kind, accountId };
  if (kind === 'signing-keys-changed') return { kind };
  return undefined;
}

export class SqlStore implements Store {
  readonly #db: SqlDriver;
  readonly #keyring: Keyring;
  readonly #now: () => number;
  readonly #listeners = new Set<(change: StoreChange) => void>();

  constructor(driver: SqlDriver, options: StoreOptions) {
    this.#db = options.observe ? timedDriver(driver, options.observe) : driver;
    this.#keyring = options.keyring;
    this.#now = options.now ?? (() => Date.now());
  }

  get kind(): string {
    return this.#db.kind;
  }

  watch(listener: (change: StoreChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts hearing other instances' changes (called once, by openStore). */
  hearOthers(): Promise<void> {
    return this.#db.receive({
      message: (message) => {
        const change = changeOf(message);
        if (change) this.#tell(change);
      },
      deaf: () => this.#tell({ kind: 'deaf' }),
      hearing: () => this.#tell({ kind: 'hearing' }),
    });
  }

  #tell(change: StoreChange): void {
    for (const listener of this.#listeners) listener(change);
  }

  /** After a change is committed: this instance's listeners at once, then every other instance. */
  async #changed(change: StoreChange): Promise<void> {
    this.#tell(change);
    await this.#db.broadcast(JSON.stringify(change));
  }

  async ping(): Promise<void> {
    await this.#db.all('SELECT 1 AS ok');
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  async getAccount(id: string): Promise<Account | undefined> {
    const [row] = await this.#db.all<{ id: string; created_at: number; disabled_at: number | null }>(
      'SELECT id, created_at, disabled_at FROM accounts WHERE id = ?',
      [id],
    );
    return (
      row && {
        id: row.id,
        createdAt: Number(row.created_at),
        ...(row.disabled_at === null ? {} : { disabledAt: Number(row.disabled_at) }),
      }
    );
  }

  async setAccountDisabled(accountId: string, disabledAt: number | null): Promise<boolean> {
    return this.#accountChangedIf(
      accountId,
      (await this.#db.run('UPDATE accounts SET disabled_at = ? WHERE id = ?', [disabledAt, accountId])) > 0,
    );
  }

  async resolveIdentity(provider: string, subject: string): Promise<{ account: Account; created: boolean }> {
    const existing = await this.findIdentity(provider, subject);
    if (existing) return { account: (await this.getAccount(existing.accountId))!, created: false };
    const account = await this.#newAccountWithIdentity(provider, subject);
    // Undefined: a concurrent sign-in created it first; our account was rolled back, theirs is the one.
    return account ? { account, created: true } : this.resolveIdentity(provider, subject);
  }

  /**
   * A new account with its first identity (and what `alsoInsert` adds), in one transaction;
   * undefined, with nothing written, when the identity exists already.
   */
  async #newAccountWithIdentity(
    provider: string,
    subject: string,
    alsoInsert?: (tx: SqlExecutor, account: Account) => Promise<unknown>,
  ): Promise<Account | undefined> {
    const account: Account = { id: randomUUID(), createdAt: this.#now() };
    try {
      await this.#db.transaction(async (tx) => {
        await tx.run('INSERT INTO accounts (id, created_at) VALUES (?, ?)', [account.id, account.createdAt]);
        // The identity's primary key decides, whatever the concurrency.
        const inserted = await tx.run(
          'INSERT INTO identities (provider, subject, account_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
          [provider, subject, account.id, account.createdAt],
        );
        if (inserted === 0) throw new LostRace();
        await alsoInsert?.(tx, account);
      });
      return account;
    } catch (error) {
      if (error instanceof LostRace) return undefined;
      throw error;
    }
  }

  #identity(r: IdentityRow): Identity {
    return {
      provider: r.provider,
      subject: r.subject,
      accountId: r.account_id,
      createdAt: Number(r.created_at),
      ...(r.sealed_profile === null
        ? {}
        : { profile: JSON.parse(this.#keyring.openString(r.sealed_profile, binding.profile(r.provider, r.subject))) }),
    };
  }

  async findIdentity(provider: string, subject: string): Promise<Identity | undefined> {
    const [row] = await this.#db.all<IdentityRow>(
      `SELECT ${IDENTITY_COLUMNS} FROM identities WHERE provider = ? AND subject = ?`,
      [provider, subject],
    );
    return row && this.#identity(row);
  }

  async listIdentities(accountId: string): Promise<Identity[]> {
    const rows = await this.#db.all<IdentityRow>(
      `SELECT ${IDENTITY_COLUMNS} FROM identities WHERE account_id = ? ORDER BY created_at, provider`,
      [accountId],
    );
    return rows.map((row) => this.#identity(row));
  }

  async updateIdentity(
    provider: string,
    subject: string,
    update: { profile: Record<string, unknown>; emailKey: string | null },
  ): Promise<void> {
    const sealed = this.#keyring.seal(JSON.stringify(update.profile), binding.profile(provider, subject));
    await this.#db.run('UPDATE identities SET sealed_profile = ?, email_key = ? WHERE provider = ? AND subject = ?', [
      sealed,
      update.emailKey,
      provider,
      subject,
    ]);
  }

  async findIdentitiesByEmailKey(emailKey: string): Promise<Identity[]> {
    const rows = await this.#db.all<IdentityRow>(
      `SELECT ${IDENTITY_COLUMNS} FROM identities WHERE email_key = ? ORDER BY created_at, provider`,
      [emailKey],
    );
    return rows.map((row) => this.#identity(row));
  }

  async unlinkIdentity(accountId: string, provider: string, subject: string): Promise<boolean> {
    return this.#accountChangedIf(
      accountId,
      await this.#db.transaction(async (tx) => {
        const rows = await tx.all<{ provider: string; subject: string }>(
          'SELECT provider, subject FROM identities WHERE account_id = ?',
          [accountId],
        );
        if (!rows.some((r) => r.provider === provider && r.subject === subject)) return false;
        if (rows.length === 1) throw new LastIdentityError();
        await tx.run('DELETE FROM identities WHERE provider = ? AND subject = ?', [provider, subject]);
        // The tokens are kept per provider, not per identity: with two identities at one provider
        // they may be the unlinked one's, which is no longer the account's to use.
        for (const table of ['provider_tokens', 'provider_groups'])
          await tx.run(`DELETE FROM ${table} WHERE account_id = ? AND provider = ?`, [accountId, provider]);
        return true;
      }),
    );
  }

  /** Tells of a change of the account when `changed` (truthy); returns `changed`. */
  async #accountChangedIf<T>(accountId: string, changed: T): Promise<T> {
    if (changed) await this.#changed({ kind: 'account-changed', accountId });
    return changed;
  }

  async deleteAccount(accountId: string): Promise<boolean> {
    return this.#accountChangedIf(
      accountId,
      await this.#db.transaction(async (tx) => {
        // Every table that names the account, explicitly: nothing relies on cascades being enforced.
        for (const table of [
          'provider_tokens',
          'provider_groups',
          'group_members',
          'sessions',
          'password_credentials',
          'second_factors',
          'recovery_codes',
          'webauthn_credentials',
          'oidc_artifacts',
          'identities',
        ])
          await tx.run(`DELETE FROM ${table} WHERE account_id = ?`, [accountId]);
        return (await tx.run('DELETE FROM accounts WHERE id = ?', [accountId])) > 0;
      }),
    );
  }

  async linkIdentity(accountId: string, provider: string, subject: string): Promise<Identity> {
    await this.#db.run(
      'INSERT INTO identities (provider, subject, account_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      [provider, subject, accountId, this.#now()],
    );
    const identity = (await this.findIdentity(provider, subject))!;
    if (identity.accountId !== accountId) throw new IdentityConflictError(provider);
    await this.#changed({ kind: 'account-changed', accountId });
    return identity;
  }

  async createPasswordAccount(provider: string, username: string, passwordHash: string): Promise<PasswordCredential> {
    const account = await this.#newAccountWithIdentity(provider, username, (tx, created) =>
      tx.run(
        `INSERT INTO password_credentials (provider, username, account_id, password_hash, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
        [provider, username, created.id, passwordHash, created.createdAt, created.createdAt],
      ),
    );
    if (!account) throw new UsernameTakenError();
    return { provider, username, accountId: account.id, passwordHash };
  }

  async getPasswordCredential(provider: string, username: string): Promise<PasswordCredential | undefined> {
    const [row] = await this.#db.all<{ account_id: string; password_hash: string }>(
      'SELECT account_id, password_hash FROM password_credentials WHERE provider = ? AND username = ?',
      [provider, username],
    );
    return row && { provider, username, accountId: row.account_id, passwordHash: row.password_hash };
  }

  async updatePasswordCredential(
    provider: string,
    username: string,
    change: { passwordHash: string },
  ): Promise<boolean> {
    return (
      (await this.#db.run(
        'UPDATE password_credentials SET password_hash = ?, updated_at = ? WHERE provider = ? AND username = ?',
        [change.passwordHash, this.#now(), provider, username],
      )) > 0
    );
  }

  async putTotpSecret(accountId: string, secret: string, usedStep: number): Promise<void> {
    await this.#db.run(
      `INSERT INTO second_factors (account_id, kind, sealed_secret, created_at, last_used_step) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (account_id, kind) DO UPDATE SET sealed_secret = excluded.sealed_secret,
         created_at = excluded.created_at, last_used_step = excluded.last_used_step`,
      [accountId, TOTP, this.#keyring.seal(secret, binding.secondFactor(accountId, TOTP)), this.#now(), usedStep],
    );
    await this.#changed({ kind: 'account-changed', accountId });
  }

  async getTotpSecret(accountId: string): Promise<string | undefined> {
    const [row] = await this.#db.all<{ sealed_secret: string }>(
      'SELECT sealed_secret FROM second_factors WHERE account_id = ? AND kind = ?',
      [accountId, TOTP],
    );
    return row && this.#keyring.openString(row.sealed_secret, binding.secondFactor(accountId, TOTP));
  }

  // One conditional UPDATE: of concurrent uses of one step (or of an earlier one after it), one wins.
  async useTotpStep(accountId: string, step: number): Promise<boolean> {
    return (
      (await this.#db.run(
        'UPDATE second_factors SET last_used_step = ? WHERE account_id = ? AND kind = ? AND last_used_step < ?',
        [step, accountId, TOTP, step],
      )) > 0
    );
  }

  async replaceRecoveryCodes(accountId: string, codeHashes: readonly string[]): Promise<void> {
    const createdAt = this.#now();
    await this.#db.transaction(async (tx) => {
      await tx.run('DELETE FROM recovery_codes WHERE account_id = ?', [accountId]);
      for (const codeHash of new Set(codeHashes))
        await tx.run('INSERT INTO recovery_codes (account_id, code_hash, created_at) VALUES (?, ?, ?)', [
          accountId,
          codeHash,
          createdAt,
        ]);
    });
  }

  async useRecoveryCode(accountId: string, codeHash: string): Promise<boolean> {
    return (
      (await this.#db.run(
        'UPDATE recovery_codes SET used_at = ? WHERE account_id = ? AND code_hash = ? AND used_at IS NULL',
        [this.#now(), accountId, codeHash],
      )) > 0
    );
  }

  async countRecoveryCodes(accountId: string): Promise<number> {
    const [row] = await this.#db.all<{ n: number }>(
      'SELECT COUNT(*) AS n FROM recovery_codes WHERE account_id = ? AND used_at IS NULL',
      [accountId],
    );
    return Number(row?.n ?? 0);
  }

  async deleteSecondFactors(accountId: string): Promise<boolean> {
    return this.#accountChangedIf(
      accountId,
      await this.#db.transaction(async (tx) => {
        let deleted = 0;
        for (const table of ['second_factors', 'recovery_codes'])
          deleted += await tx.run(`DELETE FROM ${table} WHERE account_id = ?`, [accountId]);
        return deleted > 0;
      }),
    );
  }

  async addWebAuthnCredential(credential: NewWebAuthnCredential): Promise<WebAuthnCredential | undefined> {
    checkPasskeyName(credential.name);
    const createdAt = this.#now();
    const added = await this.#db.run(
      `INSERT INTO webauthn_credentials (credential_id, account_id, public_key, counter, transports, device_type,
         backed_up, name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      [
        credential.credentialId,
        credential.accountId,
        credential.publicKey,
        credential.counter,
        JSON.stringify(credential.transports),
        credential.deviceType,
        credential.backedUp ? 1 : 0,
        credential.name,
        createdAt,
      ],
    );
    if (added === 0) return undefined;
    await this.#changed({ kind: 'account-changed', accountId: credential.accountId });
    return { ...credential, createdAt };
  }

  async listWebAuthnCredentials(accountId: string): Promise<WebAuthnCredential[]> {
    const rows = await this.#db.all<WebAuthnCredentialRow>(
      `SELECT ${WEBAUTHN_COLUMNS} FROM webauthn_credentials WHERE account_id = ? ORDER BY created_at, credential_id`,
      [accountId],
    );
    return rows.map(webAuthnCredentialOf);
  }

  async findWebAuthnCredential(credentialId: string): Promise<WebAuthnCredential | undefined> {
    const [row] = await this.#db.all<WebAuthnCredentialRow>(
      `SELECT ${WEBAUTHN_COLUMNS} FROM webauthn_credentials WHERE credential_id = ?`,
      [credentialId],
    );
    return row && webAuthnCredentialOf(row);
  }

  // One conditional UPDATE: of concurrent uses reporting one counter, one wins (section 6.1.1).
  async useWebAuthnCredential(credentialId: string, counter: number, backedUp: boolean): Promise<boolean> {
    return (
      (await this.#db.run(
        `UPDATE webauthn_credentials SET counter = ?, backed_up = ?, last_used_at = ?
         WHERE credential_id = ? AND (counter < ? OR (counter = 0 AND ? = 0))`,
        [counter, backedUp ? 1 : 0, this.#now(), credentialId, counter, counter],
      )) > 0
    );
  }

  async renameWebAuthnCredential(accountId: string, credentialId: string, name: string): Promise<boolean> {
    checkPasskeyName(name);
    return (
      (await this.#db.run('UPDATE webauthn_credentials SET name = ? WHERE account_id = ? AND credential_id = ?', [
        name,
        accountId,
        credentialId,
      ])) > 0
    );
  }

  async deleteWebAuthnCredential(accountId: string, credentialId: string): Promise<boolean> {
    return this.#accountChangedIf(
      accountId,
      (await this.#db.run('DELETE FROM webauthn_credentials WHERE account_id = ? AND credential_id = ?', [
        accountId,
        credentialId,
      ])) > 0,
    );
  }

  async upsertOidcArtifact(
    model: string,
    id: string,
    payload: Record<string, unknown>,
    expiresAt: number | undefined,
  ): Promise<void> {
    const idHash = secretHash(id);
    const optional = (value: unknown) => (typeof value === 'string' ? value : null);
    const uid = optional(payload.uid);
    const userCode = optional(payload.userCode);
    await this.#db.run(
      `INSERT INTO oidc_artifacts (model, id_hash, sealed_payload, grant_id, account_id, uid_hash, user_code_hash, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (model, id_hash) DO UPDATE SET sealed_payload = excluded.sealed_payload, grant_id = excluded.grant_id,
         account_id = excluded.account_id, uid_hash = excluded.uid_hash, user_code_hash = excluded.user_code_hash, expires_at = excluded.expires_at`,
      [
        model,
        idHash,
        this.#keyring.seal(JSON.stringify(payload), binding.oidc(model, idHash)),
        optional(payload.grantId),
        optional(payload.accountId),
        uid && secretHash(uid),
        userCode && secretHash(userCode),
        expiresAt ?? null,
      ],
    );
  }

  async findOidcArtifact(
    model: string,
    by: { id: string } | { uid: string } | { userCode: string },
  ): Promise<OidcArtifact | undefined> {
    const [column, value] =
      'id' in by ? ['id_hash', by.id] : 'uid' in by ? ['uid_hash', by.uid] : ['user_code_hash', by.userCode];
    const [row] = await this.#db.all<{ id_hash: string; sealed_payload: string; consumed_at: number | null }>(
      `SELECT id_hash, sealed_payload, consumed_at FROM oidc_artifacts
       WHERE model = ? AND ${column} = ? AND (expires_at IS NULL OR expires_at > ?)`,
      [model, secretHash(value), this.#now()],
    );
    if (!row) return undefined;
    const payload = JSON.parse(
      this.#keyring.openString(row.sealed_payload, binding.oidc(model, row.id_hash)),
    ) as Record<string, unknown>;
    return { payload, ...(row.consumed_at === null ? {} : { consumedAt: Number(row.consumed_at) }) };
  }

  async consumeOidcArtifact(model: string, id: string): Promise<void> {
    await this.#db.run(
      'UPDATE oidc_artifacts SET consumed_at = ? WHERE model = ? AND id_hash = ? AND consumed_at IS NULL',
      [this.#now(), model, secretHash(id)],
    );
  }

  async destroyOidcArtifact(model: string, id: string): Promise<void> {
    await this.#db.run('DELETE FROM oidc_artifacts WHERE model = ? AND id_hash = ?', [model, secretHash(id)]);
  }

  async revokeOidcGrant(grantId: string): Promise<void> {
    await this.#db.run('DELETE FROM oidc_artifacts WHERE grant_id = ?', [grantId]);
  }

  async listOidcArtifactsOfAccount(
    model: string,
    accountId: string,
  ): Promise<Array<Readonly<Record<string, unknown>>>> {
    const rows = await this.#db.all<{ id_hash: string; sealed_payload: string }>(
      `SELECT id_hash, sealed_payload FROM oidc_artifacts
       WHERE model = ? AND account_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY expires_at, id_hash`,
      [model, accountId, this.#now()],
    );
    return rows.map((row) => this.#openOidcPayload(model, row));
  }

  async takeOidcArtifactsOfAccount(
    model: string,
    accountId: string,
  ): Promise<Array<Readonly<Record<string, unknown>>>> {
    const rows = await this.#db.all<{ id_hash: string; sealed_payload: string }>(
      'DELETE FROM oidc_artifacts WHERE model = ? AND account_id = ? RETURNING id_hash, sealed_payload',
      [model, accountId],
    );
    return rows.map((row) => this.#openOidcPayload(model, row));
  }

  #openOidcPayload(model: string, row: { id_hash: string; sealed_payload: string }): Record<string, unknown> {
    return JSON.parse(this.#keyring.openString(row.sealed_payload, binding.oidc(model, row.id_hash))) as Record<
      string,
      unknown
    >;
  }

  async deleteOidcArtifactsOfAccount(accountId: string): Promise<number> {
    return this.#db.run('DELETE FROM oidc_artifacts WHERE account_id = ?', [accountId]);
  }

  async recordSignInFailure(keyHash: string): Promise<SignInFailures> {
    const [row] = await this.#db.all<{ failures: number; last_failure_at: number }>(
      `INSERT INTO sign_in_failures (key_hash, failures, last_failure_at) VALUES (?, 1, ?)
       ON CONFLICT (key_hash) DO UPDATE SET failures = sign_in_failures.failures + 1, last_failure_at = excluded.last_failure_at
       RETURNING failures, last_failure_at`,
      [keyHash, this.#now()],
    );
    return { failures: Number(row!.failures), lastFailureAt: Number(row!.last_failure_at) };
  }

  async getSignInFailures(keyHash: string): Promise<SignInFailures | undefined> {
    const [row] = await this.#db.all<{ failures: number; last_failure_at: number }>(
      'SELECT failures, last_failure_at FROM sign_in_failures WHERE key_hash = ?',
      [keyHash],
    );
    return row && { failures: Number(row.failures), lastFailureAt: Number(row.last_failure_at) };
  }

  async clearSignInFailures(keyHash: string): Promise<void> {
    await this.#db.run('DELETE FROM sign_in_failures WHERE key_hash = ?', [keyHash]);
  }

  async putTokens(ref: TokenRef, tokens: ProviderTokens): Promise<void> {
    await this.#putTokens(this.#db, ref, tokens);
    await this.#changed({ kind: 'account-changed', accountId: ref.accountId });
  }

  async mergeTokens(ref: TokenRef, tokens: ProviderTokens): Promise<StoredTokens> {
    return (await this.changeTokens(ref, async (current) => mergedTokens(current?.tokens, tokens)))!;
  }

  async #putTokens(db: SqlExecutor, ref: TokenRef, tokens: ProviderTokens): Promise<void> {
    const sealed = this.#keyring.seal(JSON.stringify(tokens), binding.tokens(ref));
    await db.run(
      `INSERT INTO provider_tokens (account_id, provider, resource, sealed, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (account_id, provider, resource) DO UPDATE
       SET sealed = excluded.sealed, expires_at = excluded.expires_at, updated_at = excluded.updated_at`,
      [ref.accountId, ref.provider, ref.resource, sealed, tokens.expiresAt ?? null, this.#now()],
    );
  }

  getTokens(ref: TokenRef): Promise<StoredTokens | undefined> {
    return this.#getTokens(this.#db, ref);
  }

  async #getTokens(db: SqlExecutor, ref: TokenRef): Promise<StoredTokens | undefined> {
    const [row] = await db.all<TokensRow>(
      `SELECT account_id, provider, resource, sealed, updated_at FROM provider_tokens
       WHERE account_id = ? AND provider = ? AND resource = ?`,
      [ref.accountId, ref.provider, ref.resource],
    );
    return row && this.#openTokens(row);
  }

  async changeTokens(
    ref: TokenRef,
    change: (current: StoredTokens | undefined) => Promise<ProviderTokens | null | undefined>,
  ): Promise<StoredTokens | undefined> {
    let changed = false;
    const result = await this.#db.locked(
      `provider-tokens:${JSON.stringify([ref.accountId, ref.provider, ref.resource])}`,
      async (db) => {
        const current = await this.#getTokens(db, ref);
        const next = await change(current);
        if (next === undefined) return current;
        changed = true;
        if (next === null) {
          await db.run('DELETE FROM provider_tokens WHERE account_id = ? AND provider = ? AND resource = ?', [
            ref.accountId,
            ref.provider,
            ref.resource,
          ]);
          return undefined;
        }
        await this.#putTokens(db, ref, next);
        return this.#getTokens(db, ref);
      },
    );
    // Told once committed (the lock's transaction has ended): others re-read the new set.
    await this.#accountChangedIf(ref.accountId, changed);
    return result;
  }

  async listTokens(accountId: string): Promise<StoredTokens[]> {
    const rows = await this.#db.all<TokensRow>(
      `SELECT account_id, provider, resource, sealed, updated_at FROM provider_tokens
       WHERE account_id = ? ORDER BY provider, resource`,
      [accountId],
    );
    return rows.map((row) => this.#openTokens(row));
  }

  #openTokens(row: TokensRow): StoredTokens {
    const ref = { accountId: row.account_id, provider: row.provider, resource: row.resource };
    const tokens = JSON.parse(this.#keyring.openString(row.sealed, binding.tokens(ref))) as ProviderTokens;
    return { ...ref, tokens, updatedAt: Number(row.updated_at) };
  }

  async deleteTokens(accountId: string, provider?: string, resource?: string): Promise<number> {
    const where: string[] = ['account_id = ?'];
    const params: SqlValue[] = [accountId];
    if (provider !== undefined) {
      where.push('provider = ?');
      params.push(provider);
    }
    if (resource !== undefined) {
      where.push('resource = ?');
      params.push(resource);
    }
    return this.#accountChangedIf(
      accountId,
      await this.#db.run(`DELETE FROM provider_tokens WHERE ${where.join(' AND ')}`, params),
    );
  }

  async addGroupMembers(group: string, accountIds: readonly string[]): Promise<number> {
    const added: string[] = [];
    await this.#db.transaction(async (tx) => {
      for (const accountId of new Set(accountIds)) {
        // Only existing accounts: an id of none is skipped, not an error of the whole batch.
        const inserted = await tx.run(
          `INSERT INTO group_members (group_name, account_id, added_at) SELECT ?, id, ? FROM accounts WHERE id = ?
           ON CONFLICT DO NOTHING`,
          [group, this.#now(), accountId],
        );
        if (inserted > 0) added.push(accountId);
      }
    });
    for (const accountId of added) await this.#changed({ kind: 'account-changed', accountId });
    return added.length;
  }

  async removeGroupMembers(group: string, accountIds: readonly string[]): Promise<number> {
    const removed: string[] = [];
    await this.#db.transaction(async (tx) => {
      for (const accountId of new Set(accountIds)) {
        if ((await tx.run('DELETE FROM group_members WHERE group_name = ? AND account_id = ?', [group, accountId])) > 0)
          removed.push(accountId);
      }
    });
    for (const accountId of removed) await this.#changed({ kind: 'account-changed', accountId });
    return removed.length;
  }

  async listGroupMembers(group: string): Promise<GroupMember[]> {
    const rows = await this.#db.all<{ account_id: string; added_at: number }>(
      'SELECT account_id, added_at FROM group_members WHERE group_name = ? ORDER BY added_at, account_id',
      [group],
    );
    return rows.map((row) => ({ accountId: row.account_id, addedAt: Number(row.added_at) }));
  }

  async listGroups(): Promise<GroupSummary[]> {
    const rows = await this.#db.all<{ group_name: string; n: number }>(
      'SELECT group_name, COUNT(*) AS n FROM group_members GROUP BY group_name ORDER BY group_name',
    );
    return rows.map((row) => ({ name: row.group_name, members: Number(row.n) }));
  }

  async groupsOf(accountId: string): Promise<string[]> {
    const rows = await this.#db.all<{ group_name: string }>(
      'SELECT group_name FROM group_members WHERE account_id = ? ORDER BY group_name',
      [accountId],
    );
    return rows.map((row) => row.group_name);
  }

  async putProviderGroups(
    accountId: string,
    provider: string,
    memberships: GroupsAndRoles,
    readAt: number = this.#now(),
  ): Promise<void> {
    const sealed = this.#keyring.seal(
      JSON.stringify({ groups: memberships.groups, roles: memberships.roles }),
      binding.providerGroups(accountId, provider),
    );
    await this.#db.run(
      `INSERT INTO provider_groups (account_id, provider, sealed_memberships, read_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (account_id, provider) DO UPDATE SET sealed_memberships = excluded.sealed_memberships, read_at = excluded.read_at`,
      [accountId, provider, sealed, readAt],
    );
    await this.#changed({ kind: 'account-changed', accountId });
  }

  async listProviderGroups(accountId: string): Promise<ProviderGroups[]> {
    const rows = await this.#db.all<{ provider: string; sealed_memberships: string; read_at: number }>(
      'SELECT provider, sealed_memberships, read_at FROM provider_groups WHERE account_id = ? ORDER BY provider',
      [accountId],
    );
    return rows.map((row) => {
      const { groups, roles } = JSON.parse(
        this.#keyring.openString(row.sealed_memberships, binding.providerGroups(accountId, row.provider)),
      ) as GroupsAndRoles;
      return { accountId, provider: row.provider, groups, roles, readAt: Number(row.read_at) };
    });
  }

  async createSession(input: NewSession): Promise<{ secret: string; session: Session }> {
    const secret = newSecret();
    const ref = secretHash(secret);
    const createdAt = this.#now();
    const userAgent = auditText(input.device?.userAgent);
    const address = auditText(input.device?.address);
    const session: Session = {
      ref,
      accountId: input.accountId,
      createdAt,
      expiresAt: createdAt + input.lifetimeMs,
      lastSeenAt: createdAt,
      ...(userAgent === null ? {} : { userAgent }),
      ...(address === null ? {} : { address }),
      data: input.data ?? {},
    };
    const sealed = this.#keyring.seal(JSON.stringify(session.data), binding.session(ref, session.accountId));
    // Its cookies are sealed by the same key ring's sealing key (see migration 6).
    await this.#db.run(
      `INSERT INTO sessions (id_hash, account_id, sealed_data, created_at, expires_at, issued_under_key, last_seen_at, user_agent, address)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        ref,
        session.accountId,
        sealed,
        createdAt,
        session.expiresAt,
        this.#keyring.primaryKeyId,
        createdAt,
        userAgent,
        address,
      ],
    );
    return { secret, session };
  }

  getSession(secret: string): Promise<Session | undefined> {
    return this.getSessionByRef(secretHash(secret));
  }

  async getSessionByRef(ref: string, expiredWithinMs = 0): Promise<Session | undefined> {
    const [row] = await this.#db.all<SessionRow>(
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE id_hash = ? AND expires_at > ? AND ${OF_ENABLED_ACCOUNT}`,
      [ref, this.#now() - expiredWithinMs],
    );
    return row && this.#sessionOf(row);
  }

  async renewSession(ref: string, lifetimeMs: number, expiredWithinMs = 0): Promise<Session | undefined> {
    const now = this.#now();
    // One UPDATE ... RETURNING: a session revoked meanwhile is not brought back.
    const [row] = await this.#db.all<SessionRow>(
      `UPDATE sessions SET expires_at = ? WHERE id_hash = ? AND expires_at > ? AND ${OF_ENABLED_ACCOUNT}
       RETURNING ${SESSION_COLUMNS}`,
      [now + lifetimeMs, ref, now - expiredWithinMs],
    );
    return row && this.#sessionOf(row);
  }

  async listAccountSessions(accountId: string): Promise<Session[]> {
    const rows = await this.#db.all<SessionRow>(
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE account_id = ? ORDER BY created_at, id_hash`,
      [accountId],
    );
    return rows.map((row) => this.#sessionOf(row));
  }

  // A conditional UPDATE rather than a dialect's MAX/GREATEST: the statement stays shared.
  async touchSession(ref: string, at: number): Promise<void> {
    await this.#db.run(
      'UPDATE sessions SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ? AND expires_at > ?',
      [at, ref, at, this.#now()],
    );
  }

  #sessionOf(row: SessionRow): Session {
    const data = JSON.parse(this.#keyring.openString(row.sealed_data, binding.session(row.id_hash, row.account_id)));
    return {
      ref: row.id_hash,
      accountId: row.account_id,
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
      lastSeenAt: Number(row.last_seen_at),
      ...(row.user_agent === null ? {} : { userAgent: row.user_agent }),
      ...(row.address === null ? {} : { address: row.address }),
      data,
    };
  }

  revokeSession(secret: string): Promise<boolean> {
    return this.revokeSessionByRef(secretHash(secret));
  }

  // Revocation deletes expired sessions too: one still renewable must not outlive a sign-out.
  async revokeSessionByRef(ref: string): Promise<boolean> {
    const revoked = (await this.#db.run('DELETE FROM sessions WHERE id_hash = ?', [ref])) > 0;
    if (revoked) await this.#changed({ kind: 'session-ended', ref });
    return revoked;
  }

  async revokeAccountSessions(accountId: string): Promise<number> {
    return this.#accountChangedIf(
      accountId,
      await this.#db.run('DELETE FROM sessions WHERE account_id = ?', [accountId]),
    );
  }

  async issueCode(purpose: string, payload: unknown, ttlMs: number): Promise<string> {
    const code = newSecret();
    const codeHash = secretHash(code);
    const sealed = this.#keyring.seal(JSON.stringify(payload ?? null), binding.code(codeHash, purpose));
    await this.#db.run(
      'INSERT INTO one_time_codes (code_hash, purpose, sealed_payload, expires_at) VALUES (?, ?, ?, ?)',
      [codeHash, purpose, sealed, this.#now() + ttlMs],
    );
    return code;
  }

  async rememberOnce(kind: string, value: string, expiresAt: number): Promise<boolean> {
    const now = this.#now();
    // One upsert: a new row, or one whose memory had expired, starts at 1 use; a live one counts
    // on. The row's lock decides between concurrent callers.
    const [row] = await this.#db.all<{ uses: number }>(
      `INSERT INTO seen_tokens (kind, value_hash, expires_at, uses) VALUES (?, ?, ?, 1)
       ON CONFLICT (kind, value_hash) DO UPDATE SET
         uses = CASE WHEN seen_tokens.expires_at <= ? THEN 1 ELSE seen_tokens.uses + 1 END,
         expires_at = CASE WHEN seen_tokens.expires_at <= ? OR excluded.expires_at > seen_tokens.expires_at THEN excluded.expires_at ELSE seen_tokens.expires_at END
       RETURNING uses`,
      [kind, secretHash(value), expiresAt, now, now],
    );
    return Number(row!.uses) === 1;
  }

  async consumeCode(purpose: string, code: string): Promise<unknown> {
    const codeHash = secretHash(code);
    // One DELETE ... RETURNING: the row goes to exactly one caller, whatever the concurrency.
    const [row] = await this.#db.all<{ sealed_payload: string; expires_at: number }>(
      'DELETE FROM one_time_codes WHERE code_hash = ? AND purpose = ? RETURNING sealed_payload, expires_at',
      [codeHash, purpose],
    );
    if (!row || Number(row.expires_at) <= this.#now()) return undefined;
    return JSON.parse(this.#keyring.openString(row.sealed_payload, binding.code(codeHash, purpose)));
  }

  async addSigningKey(key: Omit<SigningKey, 'createdAt' | 'retiredAt'>): Promise<SigningKey> {
    const createdAt = this.#now();
    const sealed = this.#keyring.seal(JSON.stringify(key.privateJwk), binding.signingKey(key.kid));
    await this.#db.run(
      'INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private_jwk, created_at) VALUES (?, ?, ?, ?, ?)',
      [key.kid, key.alg, JSON.stringify(key.publicJwk), sealed, createdAt],
    );
    await this.#changed({ kind: 'signing-keys-changed' });
    return { ...key, createdAt };
  }

  async listSigningKeys(): Promise<SigningKey[]> {
    const rows = await this.#db.all<SigningKeyRow>(
      'SELECT kid, alg, public_jwk, sealed_private_jwk, created_at, retired_at FROM signing_keys ORDER BY created_at, kid',
    );
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      publicJwk: JSON.parse(r.public_jwk),
      privateJwk: JSON.parse(this.#keyring.openString(r.sealed_private_jwk, binding.signingKey(r.kid))),
      createdAt: Number(r.created_at),
      ...(r.retired_at === null ? {} : { retiredAt: Number(r.retired_at) }),
    }));
  }

  async retireSigningKey(kid: string): Promise<void> {
    if (
      await this.#db.run('UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL', [
        this.#now(),
        kid,
      ])
    ) {
      await this.#changed({ kind: 'signing-keys-changed' });
    }
  }

  async instanceSecret(name: string): Promise<Buffer> {
    // Whoever inserts first wins; everyone then reads the winner's value.
    const candidate = this.#keyring.seal(randomBytes(32).toString('base64url'), binding.instanceSecret(name));
    await this.#db.run(
      'INSERT INTO instance_secrets (name, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING',
      [name, candidate, this.#now()],
    );
    const [row] = await this.#db.all<{ sealed: string }>('SELECT sealed FROM instance_secrets WHERE name = ?', [name]);
    return Buffer.from(this.#keyring.openString(row!.sealed, binding.instanceSecret(name)), 'base64url');
  }

  async keyUsage(): Promise<KeyUsage> {
    const sealed: Array<KeyUsage['sealed'][number]> = [];
    for (const { table, column } of SEALED_COLUMNS) {
      const rows = await this.#db.all<{ key_id: string; n: number }>(
        `SELECT ${KEY_ID_OF_SEALED(column)} AS key_id, COUNT(*) AS n FROM ${table} WHERE ${column} IS NOT NULL GROUP BY ${KEY_ID_OF_SEALED(column)}`,
      );
      for (const row of rows) sealed.push({ table, keyId: row.key_id, values: Number(row.n) });
    }
    const sessions = await this.#db.all<{ key_id: string | null; n: number; until: number }>(
      'SELECT issued_under_key AS key_id, COUNT(*) AS n, MAX(expires_at) AS until FROM sessions GROUP BY issued_under_key',
    );
    return {
      sealed,
      sessions: sessions.map((row) => ({ keyId: row.key_id, sessions: Number(row.n), until: Number(row.until) })),
    };
  }

  async resealBatch(limit: number, from?: ResealPosition): Promise<{ values: number; next?: ResealPosition }> {
    const prefix = `v1.${this.#keyring.primaryKeyId}.`;
    const size = Math.max(1, Math.floor(limit));
    // In key order from a cursor: each batch reads on from where the last stopped, so a pass over
    // a large table costs one walk of its primary key, not a scan per batch.
    const start = Math.max(
      0,
      SEALED_COLUMNS.findIndex((c) => c.table === from?.table),
    );
    for (let t = start; t < SEALED_COLUMNS.length; t++) {
      const { table, column, key, binding: bindingOf } = SEALED_COLUMNS[t]!;
      const after = t === start ? from?.after : undefined;
      const rows = await this.#db.all(
        `SELECT ${key.join(', ')}, ${column} AS sealed FROM ${table} WHERE ${column} IS NOT NULL AND substr(${column}, 1, ${prefix.length}) <> ?
         ${after ? `AND (${key.join(', ')}) > (${key.map(() => '?').join(', ')})` : ''} ORDER BY ${key.join(', ')} LIMIT ${size}`,
        [prefix, ...(after ?? [])],
      );
      if (rows.length === 0) continue;
      const resealed = rows.map((row) => {
        const owner = bindingOf(row);
        return this.#keyring.seal(this.#keyring.open(String(row.sealed), owner), owner);
      });
      // One transaction per batch (one commit, not one per value; its row locks last milliseconds).
      // Each value only if unchanged since read: one a request rewrote meanwhile was sealed by the
      // request, under the sealing key of that instance.
      await this.#db.transaction(async (tx) => {
        for (const [i, row] of rows.entries()) {
          await tx.run(
            `UPDATE ${table} SET ${column} = ? WHERE ${key.map((k) => `${k} = ?`).join(' AND ')} AND ${column} = ?`,
            [resealed[i]!, ...key.map((k) => row[k] as SqlValue), row.sealed as SqlValue],
          );
        }
      });
      if (rows.length === size)
        return { values: rows.length, next: { table, after: key.map((k) => rows.at(-1)![k] as SqlValue) } };
      return {
        values: rows.length,
        ...(SEALED_COLUMNS[t + 1] ? { next: { table: SEALED_COLUMNS[t + 1]!.table } } : {}),
      };
    }
    return { values: 0 };
  }

  async appendAudit(event: NewAuditEvent): Promise<AuditEvent> {
    const detail = event.detail === undefined ? null : JSON.stringify(event.detail);
    if (detail !== null && detail.length > AUDIT_DETAIL_MAX)
      throw new RangeError(
        `the detail of an audit event of kind ${event.kind} is ${detail.length} characters once serialised, more than ${AUDIT_DETAIL_MAX}: record less`,
      );
    const values = [
      this.#now(),
      auditText(event.kind),
      auditText(event.outcome),
      auditText(event.accountId),
      auditText(event.actor),
      auditText(event.app),
      auditText(event.address),
      auditText(event.userAgent),
      auditText(event.requestId),
      detail,
    ];
    // The next id in the one statement that inserts; two instances that take the same id at once
    // clash on the primary key, and the loser takes the next (`WHERE true`: SQLite's grammar needs
    // it between INSERT … SELECT and ON CONFLICT).
    for (;;) {
      const [row] = await this.#db.all<AuditRow>(
        `INSERT INTO audit_events (id, at, kind, outcome, account_id, actor, app, address, user_agent, request_id, detail)
         SELECT COALESCE(MAX(id), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM audit_events WHERE true
         ON CONFLICT (id) DO NOTHING RETURNING *`,
        values,
      );
      if (row) return auditEventOf(row);
    }
  }

  async listAudit(query: AuditQuery): Promise<AuditEvent[]> {
    const conditions: string[] = [];
    const params: SqlValue[] = [];
    const where = (condition: string, ...values: SqlValue[]) => {
      conditions.push(condition);
      params.push(...values);
    };
    if (query.since !== undefined) where('at >= ?', query.since);
    if (query.until !== undefined) where('at < ?', query.until);
    if (query.accountId !== undefined) where('account_id = ?', query.accountId);
    if (query.kinds?.length) where(`kind IN (${query.kinds.map(() => '?').join(', ')})`, ...query.kinds);
    if (query.before !== undefined) where('id < ?', query.before);
    const rows = await this.#db.all<AuditRow>(
      `SELECT * FROM audit_events${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
      [...params, query.limit],
    );
    return rows.map(auditEventOf);
  }

  async auditCounts(query: AuditCountsQuery): Promise<AuditCount[]> {
    const { since, until, bucketMs } = query;
    if (!Number.isSafeInteger(bucketMs) || bucketMs <= 0)
      throw new RangeError(`bucketMs must be a positive integer of milliseconds, not ${bucketMs}`);
    if (!(until > since)) return [];
    const kinds = query.kinds ?? [];
    // CAST: SQLite binds a JS number as REAL, and REAL division would not floor.
    const rows = await this.#db.all<{
      bucket: number | string;
      kind: string;
      outcome: string | null;
      reason: string | null;
      provider: string | null;
      count: number | string;
    }>(
      `SELECT bucket, kind, outcome, reason, provider, COUNT(*) AS count FROM (
         SELECT (at / CAST(? AS BIGINT)) * CAST(? AS BIGINT) AS bucket, kind, outcome,
           ${this.#db.jsonText('detail', 'reason')} AS reason, ${this.#db.jsonText('detail', 'provider')} AS provider
         FROM audit_events WHERE at >= ? AND at < ?${kinds.length ? ` AND kind IN (${kinds.map(() => '?').join(', ')})` : ''}
       ) AS events GROUP BY bucket, kind, outcome, reason, provider`,
      [bucketMs, bucketMs, since, until, ...kinds],
    );
    const counts = rows.map((row) => {
      const optional = { outcome: row.outcome, reason: row.reason, provider: row.provider };
      return {
        bucket: Number(row.bucket),
        kind: row.kind,
        ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== null)),
        count: Number(row.count),
      } as AuditCount;
    });
    // Sorted here: the databases order NULLs differently.
    const key = (count: AuditCount) => [count.kind, count.outcome, count.reason, count.provider];
    return counts.sort((a, b) => a.bucket - b.bucket || compareOptional(key(a), key(b)));
  }

  async purgeExpired(keep: PurgeKeep = {}): Promise<PurgeCounts> {
    const now = this.#now();
    return {
      sessions: await this.#purge('sessions', ['id_hash'], 'expires_at', now - (keep.renewableMs ?? 0)),
      codes: await this.#purge('one_time_codes', ['code_hash'], 'expires_at', now),
      oidcArtifacts: await this.#purge('oidc_artifacts', ['model', 'id_hash'], 'expires_at', now),
      signInFailures:
        keep.signInFailuresMs === undefined
          ? 0
          : await this.#purge('sign_in_failures', ['key_hash'], 'last_failure_at', now - keep.signInFailuresMs),
      seenTokens: await this.#purge('seen_tokens', ['kind', 'value_hash'], 'expires_at', now),
      // `at <= until` keeps events exactly auditMs old; one older is gone.
      auditEvents:
        keep.auditMs === undefined ? 0 : await this.#purge('audit_events', ['id'], 'at', now - keep.auditMs - 1),
    };
  }

  /**
   * Deletes the rows of `table` whose `time` is at or before `until`, a batch per statement: each
   * holds its locks only briefly, so purging a large backlog never stalls sign-ins.
   */
  async #purge(table: string, key: readonly string[], time: string, until: number): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await this.#db.run(
        `DELETE FROM ${table} WHERE (${key.join(', ')}) IN (SELECT ${key.join(', ')} FROM ${table} WHERE ${time} <= ? LIMIT ${PURGE_BATCH})`,
        [until],
      );
      total += deleted;
      if (deleted < PURGE_BATCH) return total;
    }
  }
}
