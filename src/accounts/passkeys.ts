// Passkeys (WebAuthn Level 3 public-key credentials) of local accounts, through @simplewebauthn/server:
// the options of each ceremony and the checks of its answer, pure of HTTP. Challenges are made here
// (in the options) but kept by the caller, sealed in the browser's login cookie or a sealed form
// field, and given back to the checks: nothing of a ceremony in progress is stored.
import { createHmac } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { PASSKEY_NAME_MAX, type Store, type WebAuthnCredential } from '../store/index.ts';

/** The instance secret that keys the user handles (WebAuthn L3 section 14.6.1: no personal data in them). */
const USER_HANDLE_KEY = 'webauthn-user-handles';
/**
 * The signature algorithms accepted: EdDSA, ES256, RS256 (COSE ids), the library's list but for
 * ML-DSA, whose support it would probe with an experimental Node API on every registration.
 */
const ALGORITHMS = [-8, -7, -257];
/** How long the browser offers a ceremony (ms); the caller's sealed challenge should live as long. */
export const CEREMONY_TIMEOUT_MS = 5 * 60_000;

export interface RelyingParty {
  /** The relying-party id: the auth host's name. Every passkey is bound to it for good. */
  readonly rpId: string;
  /** What authenticators show the user. */
  readonly rpName: string;
  /** The auth host's origin: the only one ceremonies may come from. */
  readonly origin: string;
}

export type PasskeyRegistration =
  | { readonly ok: true; readonly passkey: WebAuthnCredential }
  | { readonly ok: false; readonly problem: string };

export type PasskeyAssertion =
  | {
      readonly ok: true;
      readonly accountId: string;
      readonly credentialId: string;
      /** The authenticator verified the user (PIN, biometric): the passkey alone is two factors. */
      readonly userVerified: boolean;
    }
  | { readonly ok: false; readonly reason: PasskeyRefusal; readonly problem: string };

/**
 * Why an assertion is refused: `unknown` no such passkey (never registered, or removed);
 * `other-account` it is not the expected account's, or the browser's user handle names another;
 * `invalid` a ceremony that does not check out (challenge, origin, rpId, signature, flags);
 * `cloned` the signature counter did not go up (WebAuthn L3 section 6.1.1).
 */
export type PasskeyRefusal = 'unknown' | 'other-account' | 'invalid' | 'cloned';

/** What is wrong with a passkey's name (trimmed first), or undefined: 1 to 64 characters, no control characters. */
export function passkeyNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'give the passkey a name, such as the device that keeps it';
  if (name.length > PASSKEY_NAME_MAX) return `a passkey's name is at most ${PASSKEY_NAME_MAX} characters`;
  if (/\p{Cc}/u.test(name)) return "a passkey's name cannot hold control characters";
  return undefined;
}

/**
 * Whether an assertion's signature counter may follow the stored one (WebAuthn L3 section 6.1.1):
 * greater, or both 0 (an authenticator that does not count, as synced passkeys do). Anything else
 * means two copies of the private key are in use: a cloned authenticator, or a replay.
 */
export function counterAccepted(stored: number, reported: number): boolean {
  return reported > stored || (reported === 0 && stored === 0);
}

export class Passkeys {
  readonly #store: Store;
  readonly #relyingParty: RelyingParty;
  #handleKey: Promise<Buffer> | undefined;

  constructor(store: Store, relyingParty: RelyingParty) {
    this.#store = store;
    this.#relyingParty = relyingParty;
  }

  /**
   * The options of a registration for `accountId` (shown to the user as `userName`): a
   * discoverable credential (resident key required, so it can sign in without a username), user
   * verification preferred, none of the account's passkeys again; attestation `none` (SignOnce
   * trusts no authenticator model more than another). Keep `challenge` for `verifyRegistration`.
   */
  async registrationOptions(accountId: string, userName: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.#store.listWebAuthnCredentials(accountId);
    return generateRegistrationOptions({
      rpName: this.#relyingParty.rpName,
      rpID: this.#relyingParty.rpId,
      userName,
      userDisplayName: userName,
      userID: new Uint8Array(await this.#userHandle(accountId)),
      timeout: CEREMONY_TIMEOUT_MS,
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: transportsOf(c) })),
      authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
      supportedAlgorithmIDs: ALGORITHMS,
    });
  }

  /**
   * Checks a registration answer (challenge, origin, rpId, user presence) and keeps the passkey
   * under `name` with its public key, counter, transports and backup state.
   */
  async verifyRegistration(
    accountId: string,
    name: string,
    response: RegistrationResponseJSON,
    expectedChallenge: string,
  ): Promise<PasskeyRegistration> {
    const trimmed = name.trim();
    const problem = passkeyNameProblem(trimmed);
    if (problem) return { ok: false, problem };
    let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      verified = await verifyRegistrationResponse({
        response,
        expectedChallenge,
        expectedOrigin: this.#relyingParty.origin,
        expectedRPID: this.#relyingParty.rpId,
        requireUserVerification: false,
        supportedAlgorithmIDs: ALGORITHMS,
      });
    } catch (error) {
      return { ok: false, problem: `the passkey was not made for this sign-in: ${(error as Error).message}` };
    }
    if (!verified.verified) return { ok: false, problem: 'the passkey was not made for this sign-in' };
    const { credential, credentialDeviceType, credentialBackedUp } = verified.registrationInfo;
    const passkey = await this.#store.addWebAuthnCredential({
      credentialId: credential.id,
      accountId,
      publicKey: Buffer.from(credential.publicKey).toString('base64url'),
      counter: credential.counter,
      transports: credential.transports ?? [],
      deviceType: credentialDeviceType,
      backedUp: credentialBackedUp,
      name: trimmed,
    });
    return passkey ? { ok: true, passkey } : { ok: false, problem: 'this passkey is registered already' };
  }

  /**
   * The options of an authentication: with `accountId` (a second factor after the password), that
   * account's passkeys, user verification preferred; without, none named, so the browser offers
   * every discoverable passkey it holds for this relying party (sign-in without a username,
   * conditional UI), user verification required: the passkey alone must be two factors, as a
   * password and a code are. Keep `challenge`.
   */
  async authenticationOptions(accountId?: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const allowed = accountId === undefined ? undefined : await this.#store.listWebAuthnCredentials(accountId);
    return generateAuthenticationOptions({
      rpID: this.#relyingParty.rpId,
      timeout: CEREMONY_TIMEOUT_MS,
      userVerification: allowed ? 'preferred' : 'required',
      ...(allowed
        ? { allowCredentials: allowed.map((c) => ({ id: c.credentialId, transports: transportsOf(c) })) }
        : {}),
    });
  }

  /**
   * Checks an authentication answer: a registered passkey (of `accountId` when given), the user
   * handle its account's, the challenge, origin, rpId, user presence (and verification, without
   * `accountId`: a sign-in by the passkey alone) and signature, and a counter that went up (or
   * stayed 0); records the use. Who signed in is the passkey's account.
   */
  async verifyAuthentication(
    response: AuthenticationResponseJSON,
    expectedChallenge: string,
    accountId?: string,
  ): Promise<PasskeyAssertion> {
    const stored = typeof response?.id === 'string' ? await this.#store.findWebAuthnCredential(response.id) : undefined;
    if (!stored) return refused('unknown', 'this passkey is not registered here (or it was removed)');
    if (accountId !== undefined && stored.accountId !== accountId)
      return refused('other-account', "this passkey is another account's");
    // L3 section 7.2 step 6: a user handle, when given, must be the credential's owner's.
    const userHandle = response.response?.userHandle;
    if (userHandle !== undefined && userHandle !== (await this.#userHandle(stored.accountId)).toString('base64url'))
      return refused('other-account', "the passkey's user is not its account");
    let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
    try {
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge,
        expectedOrigin: this.#relyingParty.origin,
        expectedRPID: this.#relyingParty.rpId,
        // The counter rule is counterAccepted's and the store's (atomic), with its own answer.
        credential: { id: stored.credentialId, publicKey: Buffer.from(stored.publicKey, 'base64url'), counter: 0 },
        requireUserVerification: accountId === undefined,
      });
    } catch (error) {
      return refused('invalid', `the passkey's answer does not check out: ${(error as Error).message}`);
    }
    if (!verified.verified) return refused('invalid', "the passkey's signature does not check out");
    const { newCounter, credentialBackedUp, userVerified } = verified.authenticationInfo;
    const cloned = refused(
      'cloned',
      `the passkey's signature counter did not go up (it was ${stored.counter}, it says ${newCounter}): ` +
        'another copy of it is in use (WebAuthn L3 section 6.1.1)',
    );
    if (!counterAccepted(stored.counter, newCounter)) return cloned;
    // A concurrent use with the same counter got there first: a replay.
    if (!(await this.#store.useWebAuthnCredential(stored.credentialId, newCounter, credentialBackedUp))) return cloned;
    return { ok: true, accountId: stored.accountId, credentialId: stored.credentialId, userVerified };
  }

  list(accountId: string): Promise<WebAuthnCredential[]> {
    return this.#store.listWebAuthnCredentials(accountId);
  }

  /** Renames a passkey of the account: a problem to show, or undefined when renamed. */
  async rename(accountId: string, credentialId: string, name: string): Promise<string | undefined> {
    const trimmed = name.trim();
    const problem = passkeyNameProblem(trimmed);
    if (problem) return problem;
    return (await this.#store.renameWebAuthnCredential(accountId, credentialId, trimmed))
      ? undefined
      : 'this passkey is gone';
  }

  /** Removes a passkey of the account; false when it had no such passkey. */
  remove(accountId: string, credentialId: string): Promise<boolean> {
    return this.#store.deleteWebAuthnCredential(accountId, credentialId);
  }

  // WebAuthn's user.id: opaque, stable per account, and telling nothing (not the account id itself,
  // which apps see): an HMAC-SHA-256 of it under an instance secret.
  async #userHandle(accountId: string): Promise<Buffer> {
    this.#handleKey ??= this.#store.instanceSecret(USER_HANDLE_KEY);
    return createHmac('sha256', await this.#handleKey)
      .update(accountId)
      .digest();
  }
}

const transportsOf = (credential: WebAuthnCredential) => credential.transports as AuthenticatorTransport[];

const refused = (reason: PasskeyRefusal, problem: string): PasskeyAssertion => ({ ok: false, reason, problem });
