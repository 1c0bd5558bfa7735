// Sealing of secrets at rest: AES-256-GCM (NIST SP 800-38D) with a random 96-bit IV per value.
// Every sealed value names the key that sealed it, and its associated data binds it to a purpose
// and an owner, so a value copied to another row (another account, provider or purpose) fails to
// open instead of being read as someone else's secret.
import { CodedError } from '../errors/index.ts';
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

const FORMAT = 'v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** What a sealed value belongs to; both parts must be given again to open it. */
export interface Binding {
  /** What the value is, e.g. `provider-tokens`. */
  readonly purpose: string;
  /** Who or what it belongs to, e.g. `[accountId, provider, resource]`. */
  readonly owner: readonly string[];
}

export type SealedValueRefusal = 'malformed' | 'unknown-key' | 'unauthentic';

/** A sealed value that cannot be opened. Never carries key material or plaintext. */
export class SealedValueError extends CodedError {
  static readonly code = 'ERR_SEALED_VALUE';
  readonly code = SealedValueError.code;
  readonly reason: SealedValueRefusal;
  constructor(reason: SealedValueRefusal, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A new random 256-bit key, base64url, for `secrets.encryptionKeys`. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64url');
}

/** Decodes a configured key; undefined unless it is exactly 32 bytes of unpadded base64url. */
export function decodeKey(encoded: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]{43}$/.test(encoded)) return undefined;
  const key = Buffer.from(encoded, 'base64url');
  // The 43rd character carries 2 spare bits; only the canonical encoding is accepted.
  return key.length === KEY_BYTES && key.toString('base64url') === encoded ? key : undefined;
}

/** A key id that names a key without revealing it: a truncated HMAC under the key itself. */
export function keyIdOf(key: Buffer): string {
  return createHmac('sha256', key).update('signonce key id').digest().subarray(0, 8).toString('base64url');
}

/** The id of the key that sealed `sealed`, or undefined when it is not a sealed value. */
export function sealedKeyId(sealed: string): string | undefined {
  const parts = sealed.split('.');
  return parts.length === 3 && parts[0] === FORMAT ? parts[1] : undefined;
}

function associatedData(keyId: string, binding: Binding): Buffer {
  // JSON of an array is unambiguous however the strings are chosen (no separator to forge).
  return Buffer.from(JSON.stringify([FORMAT, keyId, binding.purpose, ...binding.owner]));
}

export class Keyring {
  // KeyObjects, imported once: passing raw bytes would re-import the key on every seal and open.
  readonly #keys: Map<string, KeyObject>;
  /** The id of the key that seals new values (the first configured one). */
  readonly primaryKeyId: string;

  /** `keys`: base64url 256-bit keys; the first seals, every one opens. */
  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new RangeError('a keyring needs at least one key');
    this.#keys = new Map();
    for (const [index, encoded] of keys.entries()) {
      const key = decodeKey(encoded);
      if (!key) throw new RangeError(`encryption key ${index} is not 32 bytes of base64url`);
      this.#keys.set(keyIdOf(key), createSecretKey(key));
    }
    this.primaryKeyId = keyIdOf(decodeKey(keys[0]!)!);
  }

  /** The ids of every key that can open values, the sealing key first. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  seal(plaintext: string | Uint8Array, binding: Binding): string {
    const key = this.#keys.get(this.primaryKeyId)!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(associatedData(this.primaryKeyId, binding));
    const body = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return `${FORMAT}.${this.primaryKeyId}.${body.toString('base64url')}`;
  }

  open(sealed: string, binding: Binding): Buffer {
    const parts = sealed.split('.');
    const encoded = parts.length === 3 && parts[0] === FORMAT ? parts[2]! : '';
    const body = Buffer.from(encoded, 'base64url');
    // The decoder skips characters outside the alphabet; any skipped one shortens the result, which
    // this length check sees far more cheaply than a regex over the whole value.
    if (!encoded || encoded.length % 4 === 1 || body.length !== Math.floor((encoded.length * 3) / 4)) {
      throw new SealedValueError('malformed', 'not a sealed value');
    }
    const keyId = parts[1]!;
    const key = this.#keys.get(keyId);
    if (!key) {
      throw new SealedValueError('unknown-key', `sealed under key ${keyId}, which is not in secrets.encryptionKeys`);
    }
    if (body.length < IV_BYTES + TAG_BYTES) throw new SealedValueError('malformed', 'sealed value is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(keyId, binding));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]);
    } catch {
      // GCM cannot tell tampering from a wrong binding, and neither should we.
      throw new SealedValueError('unauthentic', 'sealed value was altered or belongs to another owner or purpose');
    }
  }

  openString(sealed: string, binding: Binding): string {
    return this.open(sealed, binding).toString('utf8');
  }
}
