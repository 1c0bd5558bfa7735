// `signonce/verify`: what an app backend needs to trust SignOnce. Authentication tokens verified
// against the issuer's published keys (fetched once, cached; a token naming an unknown key fetches
// them again at most every 30 s, RFC 7517 key rotation), an algorithm allow-list and the `typ`
// check (RFC 8725); the X-MS-CLIENT-PRINCIPAL header read; middleware for Express and Fastify.
import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';
import { SIGNING_ALGORITHMS } from '../crypto/signing-keys.ts';
import {
  TokenRefused,
  verifyAuthenticationToken as verifyWithKeys,
  type AuthenticationClaims,
} from '../session/authentication-tokens.ts';

export { TokenRefused, type AuthenticationClaims, type TokenRefusal } from '../session/authentication-tokens.ts';

export interface VerifierOptions {
  /** SignOnce's `publicUrl`, e.g. https://auth.example.com. */
  readonly issuer: string;
  /** The app id(s) whose tokens this backend accepts. */
  readonly audience: string | readonly string[];
  /** Where the keys are; `{issuer}/.well-known/jwks.json` by default. */
  readonly jwksUri?: string;
  /** A fetch to get the keys with (a proxy, a test's resolver); the global fetch by default. */
  readonly fetch?: typeof fetch;
}

const REFETCH_COOLDOWN_MS = 30_000;
const KEYS_MAX_AGE_MS = 10 * 60_000;
const keySets = new Map<string, JWTVerifyGetKey>();

/** One cached remote key set per URL (and fetch), shared by every verifier of this process. */
function remoteKeys(url: string, fetchKeys: typeof fetch | undefined): JWTVerifyGetKey {
  if (fetchKeys)
    return createRemoteJWKSet(new URL(url), {
      cooldownDuration: REFETCH_COOLDOWN_MS,
      cacheMaxAge: KEYS_MAX_AGE_MS,
      [customFetch]: fetchKeys,
    });
  let keys = keySets.get(url);
  if (!keys) {
    keys = createRemoteJWKSet(new URL(url), { cooldownDuration: REFETCH_COOLDOWN_MS, cacheMaxAge: KEYS_MAX_AGE_MS });
    keySets.set(url, keys);
  }
  return keys;
}

/** A verifier bound to one issuer and audience, with its key set cached. */
export function createVerifier(options: VerifierOptions): (token: string) => Promise<AuthenticationClaims> {
  const keys = remoteKeys(
    options.jwksUri ?? `${options.issuer.replace(/\/$/, '')}/.well-known/jwks.json`,
    options.fetch,
  );
  const audiences = typeof options.audience === 'string' ? [options.audience] : [...options.audience];
  return (token) => verifyWithKeys(token, keys, { issuer: options.issuer, audiences, algorithms: SIGNING_ALGORITHMS });
}

/**
 * The claims of a SignOnce authentication token for `audience`; throws TokenRefused (with a
 * `reason`) when it is not one, or the error of fetching the keys when they cannot be had.
 */
export function verifyAuthenticationToken(token: string, options: VerifierOptions): Promise<AuthenticationClaims> {
  return createVerifier(options)(token);
}

export interface ClientPrincipal {
  readonly auth_typ: string;
  readonly claims: ReadonlyArray<{ readonly typ: string; readonly val: string }>;
  readonly name_typ: string;
  readonly role_typ: string;
}

/**
 * The X-MS-CLIENT-PRINCIPAL header (base64 JSON), or undefined when it is absent or not one.
 * Trust it only behind SignOnce, which removes every client-sent copy.
 */
export function parseClientPrincipal(header: string | readonly string[] | undefined): ClientPrincipal | undefined {
  if (typeof header !== 'string' || header.length > 64 * 1024) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  const principal = value as Partial<ClientPrincipal> | null;
  const text = (v: unknown): v is string => typeof v === 'string';
  if (
    !principal ||
    typeof principal !== 'object' ||
    !text(principal.auth_typ) ||
    !text(principal.name_typ) ||
    !text(principal.role_typ)
  )
    return undefined;
  if (
    !Array.isArray(principal.claims) ||
    !principal.claims.every(
      (c: unknown) =>
        !!c && typeof c === 'object' && text((c as { typ?: unknown }).typ) && text((c as { val?: unknown }).val),
    )
  )
    return undefined;
  return {
    auth_typ: principal.auth_typ,
    claims: principal.claims.map(({ typ, val }) => ({ typ, val })),
    name_typ: principal.name_typ,
    role_typ: principal.role_typ,
  };
}

/** The token a request presents: X-ZUMO-AUTH, or an Authorization bearer token. */
function presentedToken(headers: Record<string, string | string[] | undefined>): string | undefined {
  const zumo = headers['x-zumo-auth'];
  if (typeof zumo === 'string' && zumo.trim()) return zumo.trim();
  return /^Bearer +(\S+)$/i.exec(typeof headers.authorization === 'string' ? headers.authorization : '')?.[1];
}

interface MinimalRequest {
  headers: Record<string, string | string[] | undefined>;
  user?: AuthenticationClaims;
}
type Answer = (status: number, body: Record<string, string>) => void;

/** Sets `request.user` from the token, or answers 401 (refused, or no token) / 503 (keys unavailable). */
async function authenticate(
  verify: (token: string) => Promise<AuthenticationClaims>,
  request: MinimalRequest,
  answer: Answer,
): Promise<boolean> {
  const token = presentedToken(request.headers);
  if (!token) {
    answer(401, { error: 'an authentication token is required' });
    return false;
  }
  try {
    request.user = await verify(token);
    return true;
  } catch (error) {
    if (error instanceof TokenRefused)
      answer(401, { error: 'the authentication token is not accepted', reason: error.reason });
    else answer(503, { error: 'the keys of the token issuer cannot be fetched' });
    return false;
  }
}

/** Express (or Connect) middleware: `app.use(expressAuthentication({ issuer, audience }))`; the claims in `req.user`. */
export function expressAuthentication(options: VerifierOptions) {
  const verify = createVerifier(options);
  return (
    request: MinimalRequest,
    response: { status(code: number): { json(body: unknown): void } },
    next: (error?: unknown) => void,
  ): void => {
    void authenticate(verify, request, (status, body) => response.status(status).json(body)).then(
      (ok) => ok && next(),
      next,
    );
  };
}

/** A Fastify onRequest/preHandler hook: `app.addHook('onRequest', fastifyAuthentication({ issuer, audience }))`; the claims in `request.user`. */
export function fastifyAuthentication(options: VerifierOptions) {
  const verify = createVerifier(options);
  return async (
    request: MinimalRequest,
    reply: { code(status: number): { send(body: unknown): unknown } },
  ): Promise<unknown> => {
    let answered: unknown;
    await authenticate(verify, request, (status, body) => {
      answered = reply.code(status).send(body);
    });
    // Returning the sent reply tells Fastify the request ends here.
    return answered;
  };
}
