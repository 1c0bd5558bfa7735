// Versioned schema. Each step runs once, in order, inside the exclusive migration transaction, so
// several instances starting together on one PostgreSQL apply it exactly once. Never edit a step
// that has shipped: add the next one. Types are those SQLite and PostgreSQL share (TEXT, BIGINT);
// times are milliseconds since the epoch. A new table is also listed in COPIED_TABLES (copy.ts), or
// `signonce store migrate` would leave it behind (test/store/copy.test.ts fails until it is).
import type { SqlDriver } from './driver.ts';
import { StoreUnavailableError } from './types.ts';

interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'accounts, identities, tokens, sessions, codes, signing keys',
    statements: [
      `CREATE TABLE accounts (
         id TEXT PRIMARY KEY,
         created_at BIGINT NOT NULL)`,
      `CREATE TABLE identities (
         provider TEXT NOT NULL,
         subject TEXT NOT NULL,
         account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
         created_at BIGINT NOT NULL,
         PRIMARY KEY (provider, subject))`,
      `CREATE INDEX identities_by_account ON identities (account_id)`,
      `CREATE TABLE provider_tokens (
         account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
         provider TEXT NOT NULL,
         resource TEXT NOT NULL,
         sealed TEXT NOT NULL,
         expires_at BIGINT,
         updated_at BIGINT NOT NULL,
         PRIMARY KEY (account_id, provider, resource))`,
      `CREATE TABLE sessions (
         id_hash TEXT PRIMARY KEY,
         account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
         sealed_data TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         expires_at BIGINT NOT NULL)`,
      `CREATE INDEX sessions_by_account ON sessions (account_id)`,
      `CREATE INDEX sessions_by_expiry ON sessions (expires_at)`,
      `CREATE TABLE one_time_codes (
         code_hash TEXT PRIMARY KEY,
         purpose TEXT NOT NULL,
         sealed_payload TEXT NOT NULL,
         expires_at BIGINT NOT NULL)`,
      `CREATE INDEX one_time_codes_by_expiry ON one_time_codes (expires_at)`,
      `CREATE TABLE signing_keys (
         kid TEXT PRIMARY KEY,
         alg TEXT NOT NULL,
         public_jwk TEXT NOT NULL,
         sealed_private_jwk TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         retired_at BIGINT)`,
    ],
  },
  {
    version: 2,
    name: 'instance secrets',
    statements: [
      // Random secrets SignOnce makes once and keeps (sealed): e.g. the pairwise-id key, which must
      // outlive any change of encryption keys, since apps store the ids it makes.
      `CREATE TABLE instance_secrets (
         name TEXT PRIMARY KEY,
         sealed TEXT NOT NULL,
         created_at BIGINT NOT NULL)`,
    ],
  },
  {
    version: 3,
    name: 'identity profiles and e-mail keys',
    statements: [
      // What the provider said of the identity at its last sign-in (sealed), for /.auth/me of
      // linked accounts; and a keyed hash of its verified e-mail, for opt-in linking by e-mail.
      'ALTER TABLE identities ADD COLUMN sealed_profile TEXT',
      'ALTER TABLE identities ADD COLUMN email_key TEXT',
      'CREATE INDEX identities_by_email_key ON identities (email_key)',
    ],
  },
  {
    version: 4,
    name: 'password credentials, sign-in failures',
    statements: [
      // Local accounts: the identity (provider, username) and its argon2id hash.
      `CREATE TABLE password_credentials (
         provider TEXT NOT NULL,
         username TEXT NOT NULL,
         account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
         password_hash TEXT NOT NULL,
         disabled_at BIGINT,
         created_at BIGINT NOT NULL,
         updated_at BIGINT NOT NULL,
         PRIMARY KEY (provider, username))`,
      'CREATE INDEX password_credentials_by_account ON password_credentials (account_id)',
      // Failed sign-ins per throttling key (an account, a client address), keyed hashes only.
      `CREATE TABLE sign_in_failures (
         key_hash TEXT PRIMARY KEY,
         failures BIGINT NOT NULL,
         last_failure_at BIGINT NOT NULL)`,
    ],
  },
  {
    version: 5,
    name: 'OpenID Provider artifacts',
    statements: [
      // oidc-provider's models (sessions, interactions, grants, codes, tokens) through its adapter:
      // ids and uids are bearer values (a token's id is the token), so only their hashes are kept;
      // the payload is sealed.
      `CREATE TABLE oidc_artifacts (
         model TEXT NOT NULL,
         id_hash TEXT NOT NULL,
         sealed_payload TEXT NOT NULL,
         grant_id TEXT,
         account_id TEXT,
         uid_hash TEXT,
         user_code_hash TEXT,
         consumed_at BIGINT,
         expires_at BIGINT,
         PRIMARY KEY (model, id_hash))`,
      'CREATE INDEX oidc_artifacts_by_grant ON oidc_artifacts (grant_id)',
      'CREATE INDEX oidc_artifacts_by_account ON oidc_artifacts (account_id)',
      'CREATE INDEX oidc_artifacts_by_uid ON oidc_artifacts (model, uid_hash)',
      'CREATE INDEX oidc_artifacts_by_user_code ON oidc_artifacts (model, user_code_hash)',
      'CREATE INDEX oidc_artifacts_by_expiry ON oidc_artifacts (expires_at)',
    ],
  },
  {
    version: 6,
    name: 'the key a session was issued under',
    statements: [
      // The id of the encryption key that sealed the session's bearer copies (its cookies), which
      // live in browsers where no re-sealing reaches them: `signonce keys status` counts the live
      // sessions per key, so an old key is removed only once no cookie needs it. NULL: issued before.
      'ALTER TABLE sessions ADD COLUMN issued_under_key TEXT',
    ],
  },
  {
    version: 7,
    name: 'store copies',
    statements: [
      // `signonce store migrate` records in the target how far it has copied each table from a
      // source (the last key copied, in the transaction of the rows), so an interrupted copy resumes.
      `CREATE TABLE store_copies (
         source TEXT NOT NULL,
         table_name TEXT NOT NULL,
         after_key TEXT,
         copied BIGINT NOT NULL,
         finished_at BIGINT,
         PRIMARY KEY (source, table_name))`,
    ],
  },
  {
    version: 8,
    name: 'disabled accounts',
    statements: [
      // Disabled is the account's state, whichever identity signs in to it (a linked provider, a
      // third-party token, the OpenID Provider's clients): no longer a password credential's.
      'ALTER TABLE accounts ADD COLUMN disabled_at BIGINT',
      `UPDATE accounts SET disabled_at = (SELECT MIN(c.disabled_at) FROM password_credentials c WHERE c.account_id = accounts.id)
       WHERE id IN (SELECT account_id FROM password_credentials WHERE disabled_at IS NOT NULL)`,
      'ALTER TABLE password_credentials DROP COLUMN disabled_at',
    ],
  },
  {
    version: 9,
    name: 'seen provider tokens',
    statements: [
      // Provider tokens that may sign in through POST /.auth/login/{provider} at most once (ID
      // tokens, OAuth 1.0a tokens), each kept as a SHA-256 hash until it could no longer be
      // accepted; `uses` tells a first sighting from a repeat in the one upsert that records it.
      `CREATE TABLE seen_tokens (
         kind TEXT NOT NULL,
         value_hash TEXT NOT NULL,
         expires_at BIGINT NOT NULL,
         uses BIGINT NOT NULL,
         PRIMARY KEY (kind, value_hash))`,
      'CREATE INDEX seen_tokens_by_expiry ON seen_tokens (expires_at)',
    ],
  },
  {
    version: 10,
    name: 'groups',
    statements: [
      // SignOnce's own groups (`signonce groups`), for local and federated accounts alike.
      `CREATE TABLE group_members (
         group_name TEXT NOT NULL,
         account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
         added_at BIGINT NOT NULL,
         PRIMARY KEY (group_name, account_id))`,
      'CREATE INDEX group_members_by_account ON group_members (account_id)',
      // Groups and roles last read from each provider of an account (sealed: who belongs to what
      // is personal data) and when, so they are read again once old (config `groups`).
      `CREATE TABLE provider_groups (
         account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
         provider TEXT NOT NULL,
         sealed_memberships TEXT NOT NULL,
         read_at BIGINT NOT NULL,
         PRIMARY KEY (account_id, provider))`,
    ],
  },
  {
    version: 11,
    name: 'audit events',
    statements: [
      // The audit log, append-only (only retention deletes). The id is given by the insert itself
      // (MAX + 1, retried on a clash) rather than by a dialect's sequence, so the statements stay
      // shared and `signonce store migrate` copies ids as they are.
      `CREATE TABLE audit_events (
         id BIGINT PRIMARY KEY,
         at BIGINT NOT NULL,
         kind TEXT NOT NULL,
         outcome TEXT,
         account_id TEXT,
         actor TEXT,
         app TEXT,
         address TEXT,
         user_agent TEXT,
         request_id TEXT,
         detail TEXT)`,
      'CREATE INDEX audit_events_by_time ON audit_events (at)',
      'CREATE INDEX audit_events_by_account ON audit_events (account_id, at)',
    ],
  },
  {
    version: 12,
    name: 'session devices and last use',
    statements: [
      // What a person needs to tell their sessions apart (the account page): the browser's
      // User-Agent and the client address at sign-in, in clear as in the audit log (not secrets);
      // and when the session was last used (written at most once a minute per instance, see
      // src/session/last-seen.ts), for "last seen" and session.idleTimeout.
      'ALTER TABLE sessions ADD COLUMN user_agent TEXT',
      'ALTER TABLE sessions ADD COLUMN address TEXT',
      'ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT',
      'UPDATE sessions SET last_seen_at = created_at',
    ],
  },
  {
    version: 13,
    name: 'second factors and recovery codes',
    statements: [
      // A local account's second factors (kind 'totp': an RFC 6238 secret, sealed) and the last
      // time step a code was accepted for, so each code is accepted once (RFC 6238 section 5.2).
      `CREATE TABLE second_factors (
         account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
         kind TEXT NOT NULL,
         sealed_secret TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         last_used_step BIGINT NOT NULL,
         PRIMARY KEY (account_id, kind))`,
      // Single-use recovery codes, kept only as keyed hashes; a used one keeps when it was used.
      `CREATE TABLE recovery_codes (
         account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
         code_hash TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         used_at BIGINT,
         PRIMARY KEY (account_id, code_hash))`,
    ],
  },
  {
    version: 14,
    name: 'webauthn credentials',
    statements: [
      // Passkeys of local accounts (WebAuthn Level 3 section 6.1 attested credential data): the
      // credential id (base64url, unique across accounts: an authenticator makes a new id per
      // credential), its COSE public key (base64url; public, not sealed), the signature counter
      // (section 6.1.1), transports (JSON array), device type and backed-up flag (section 6.1.3),
      // and a name the user chose.
      `CREATE TABLE webauthn_credentials (
         credential_id TEXT PRIMARY KEY,
         account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
         public_key TEXT NOT NULL,
         counter BIGINT NOT NULL,
         transports TEXT NOT NULL,
         device_type TEXT NOT NULL,
         backed_up BIGINT NOT NULL,
         name TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         last_used_at BIGINT)`,
      'CREATE INDEX webauthn_credentials_by_account ON webauthn_credentials (account_id, created_at)',
    ],
  },
];

export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** Brings the schema up to SCHEMA_VERSION; returns the versions it applied. */
export async function migrate(driver: SqlDriver, now: () => number): Promise<number[]> {
  return driver.exclusiveTransaction(async (tx) => {
    await tx.run(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const [row] = await tx.all<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
    const current = Number(row?.version ?? 0);
    if (current > SCHEMA_VERSION) {
      throw new StoreUnavailableError(
        `the store's schema is at version ${current}, newer than this SignOnce knows (${SCHEMA_VERSION}): ` +
          'run a SignOnce at least as new as the one that last migrated it',
      );
    }
    const applied: number[] = [];
    for (const migration of MIGRATIONS.filter((m) => m.version > current)) {
      for (const statement of migration.statements) await tx.run(statement);
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        migration.version,
        migration.name,
        now(),
      ]);
      applied.push(migration.version);
    }
    return applied;
  });
}
