// Local passwords: what a username and a password may be (pure rules, NIST SP 800-63B section
// 5.1.1.2: a minimum length, no composition rules, not a commonly used password), and their
// hashing with argon2id at OWASP's recommended cost (m = 19 MiB, t = 2, p = 1).
import argon2 from 'argon2';
import { dictionary } from '@zxcvbn-ts/language-common';

const HASH_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
/** Longer input only costs hashing time: refused before it is hashed. */
export const MAX_PASSWORD_LENGTH = 256;
const USERNAME_PATTERN = /^[\p{L}\p{N}][\p{L}\p{N}._@+-]{0,127}$/u;

/**
 * A username as stored and compared: Unicode NFKC, trimmed, lower-case (so `Ann` and `ann`, or a
 * full-width `ａｎｎ`, are one user). Undefined when it is not one: 1 to 128 letters, digits and
 * `. _ @ + -`, starting with a letter or digit (no spaces, no control or invisible characters).
 */
export function normaliseUsername(input: string): string | undefined {
  const username = input.normalize('NFKC').trim().toLowerCase();
  return USERNAME_PATTERN.test(username) ? username : undefined;
}

let common: ReadonlySet<string> | undefined;
/** zxcvbn-ts's list of the ~49,000 most common passwords, lower-case. */
function commonPasswords(): ReadonlySet<string> {
  common ??= new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return common;
}

/** Why `password` may not be used for `username`, or undefined when it may. */
export function passwordProblem(password: string, username: string, minLength: number): string | undefined {
  const length = [...password].length;
  if (length < minLength) return `a password needs at least ${minLength} characters`;
  if (length > MAX_PASSWORD_LENGTH) return `a password has at most ${MAX_PASSWORD_LENGTH} characters`;
  const lower = password.normalize('NFKC').toLowerCase();
  if (commonPasswords().has(lower)) return 'this password is one of the most commonly used: choose another';
  const containsUsername = username.length >= 4 ? lower.includes(username) : lower === username;
  if (containsUsername || new Set(lower).size === 1) return 'this password is too easy to guess: choose another';
  return undefined;
}

export const hashPassword = (password: string): Promise<string> => argon2.hash(password, HASH_OPTIONS);

// Checked against when the username is unknown, so the answer takes as long as for a known one.
let dummyHash: Promise<string> | undefined;

/**
 * Whether `password` matches `hash`; with no hash (unknown user) a dummy one is checked, so that
 * the time taken does not tell whether the user exists.
 */
export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  dummyHash ??= hashPassword('an unguessable dummy password that matches nothing');
  const checked = hash ?? (await dummyHash);
  let matches: boolean;
  try {
    matches = await argon2.verify(checked, password);
  } catch {
    matches = false;
  }
  return hash !== undefined && matches;
}
