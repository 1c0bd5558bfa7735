// A software WebAuthn authenticator for tests below the browser: it makes the registration and
// authentication answers a browser would post (WebAuthn L3 sections 6.1, 6.5, 7), with ES256 keys,
// attestation `none`, and whatever origin, counter and flags a test asks for, so that checks can be
// driven where a real browser would refuse to go (another origin, a counter going back).
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { unescapeHtml } from './user-agent.ts';

type Cbor = number | string | Uint8Array | Map<number | string, Cbor>;

/** CBOR (RFC 8949) of the few types WebAuthn's structures use: integers, byte and text strings, maps. */
function cbor(value: Cbor): Buffer {
  const head = (major: number, n: number) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  };
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)]);
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  return Buffer.concat([head(5, value.size), ...[...value].flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

const FLAG = { up: 0x01, uv: 0x04, be: 0x08, bs: 0x10, at: 0x40 } as const;

export interface Ceremony {
  readonly challenge: string;
  /** The origin the browser puts in clientDataJSON; the relying party's by default. */
  readonly origin?: string;
}

export class SoftwareAuthenticator {
  readonly credentialId = randomBytes(16).toString('base64url');
  readonly #keys: { publicKey: KeyObject; privateKey: KeyObject } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  readonly #rpId: string;
  readonly #origin: string;
  #userHandle: string | undefined;
  /** The signature counter it reports next time (then one more); 0 stays 0: an authenticator that does not count. */
  counter: number;
  userVerified = true;

  constructor(relyingParty: { rpId: string; origin: string }, counter = 1) {
    this.#rpId = relyingParty.rpId;
    this.#origin = relyingParty.origin;
    this.counter = counter;
  }

  /** The answer to registration options (their challenge and user), as @simplewebauthn/browser posts it. */
  register(
    options: { challenge: string; user: { id: string } },
    ceremony: Partial<Ceremony> = {},
  ): RegistrationResponseJSON {
    this.#userHandle = options.user.id;
    const { x, y } = this.#keys.publicKey.export({ format: 'jwk' });
    const coseKey = new Map<number, Cbor>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(x!, 'base64url')],
      [-3, Buffer.from(y!, 'base64url')],
    ]);
    const id = Buffer.from(this.credentialId, 'base64url');
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const authData = Buffer.concat([
      this.#authDataHead(FLAG.at, 0),
      Buffer.alloc(16), // AAGUID: none
      idLength,
      id,
      cbor(coseKey),
    ]);
    const attestationObject = cbor(
      new Map<string, Cbor>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    return this.#credential({
      clientDataJSON: this.#clientData('webauthn.create', { challenge: options.challenge, ...ceremony }),
      attestationObject: attestationObject.toString('base64url'),
      transports: ['internal'],
    });
  }

  /** The answer to authentication options (their challenge), signed, with the counter as it stands. */
  authenticate(ceremony: Ceremony, userHandle = this.#userHandle): AuthenticationResponseJSON {
    const authenticatorData = this.#authDataHead(0, this.counter);
    if (this.counter > 0) this.counter += 1;
    const clientDataJSON = this.#clientData('webauthn.get', ceremony);
    const signed = Buffer.concat([
      authenticatorData,
      createHash('sha256').update(Buffer.from(clientDataJSON, 'base64url')).digest(),
    ]);
    return this.#credential({
      clientDataJSON,
      authenticatorData: authenticatorData.toString('base64url'),
      signature: sign('sha256', signed, this.#keys.privateKey).toString('base64url'),
      ...(userHandle === undefined ? {} : { userHandle }),
    });
  }

  /** A PublicKeyCredential as the browser library serialises it (WebAuthn L3 section 5.1.8, toJSON). */
  #credential<R>(response: R) {
    const id = this.credentialId;
    return { id, rawId: id, type: 'public-key' as const, clientExtensionResults: {}, response };
  }

  #authDataHead(flags: number, counter: number): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    const bits = FLAG.up | FLAG.be | FLAG.bs | flags | (this.userVerified ? FLAG.uv : 0);
    return Buffer.concat([createHash('sha256').update(this.#rpId).digest(), Buffer.from([bits]), count]);
  }

  #clientData(type: string, ceremony: Ceremony): string {
    const data = { type, challenge: ceremony.challenge, origin: ceremony.origin ?? this.#origin, crossOrigin: false };
    return Buffer.from(JSON.stringify(data)).toString('base64url');
  }
}

/**
 * The passkey sign-in form of a sign-in page's HTML, as its script reads it: the hidden fields to
 * post back, and the ceremony's options (JSON, as in `data-options`).
 */
export function passkeySignInForm(html: string): { state: string; challenge: string; optionsJSON: string } {
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)![1]!;
  const optionsJSON = unescapeHtml(/data-options="([^"]+)"/.exec(html)![1]!);
  return { state: field('state'), challenge: field('challenge'), optionsJSON };
}
