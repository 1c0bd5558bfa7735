// The single-use codes of a sign-in and a sign-out, kept in the store (Store.issueCode/consumeCode):
// each kind with its payload and its lifetime. A kind is the purpose the store keeps with the code,
// and a payload is stored as the JSON of these shapes: both are part of the stored data (a code
// issued before an upgrade is consumed after it), so neither changes.
import type { Store } from '../store/index.ts';

/**
 * A sign-in in progress. `browser`: a random value the app host also keeps in a cookie of the
 * browser that started the sign-in, so the hand-off code works only in that browser (a code leaked
 * from a URL is useless). `link`: the session (its ref) whose account the identity is to join.
 * `interaction`: the OpenID Provider's interaction (uid) the sign-in is for
 * (src/gateway/endpoints/openid-provider.ts).
 */
/**
 * The `appId` of a sign-in to one of SignOnce's own pages on the auth host, the account page and
 * the admin console: not apps (no configured id starts with a dot, isOwnPage), and the `app` their
 * sessions and audit events name.
 */
export const ACCOUNT_PAGE_APP = '.account';
export const ADMIN_APP = '.admin';
export const isOwnPage = (appId: string) => appId.startsWith('.');

export interface LoginRequest {
  provider: string;
  appId: string;
  host: string;
  redirect: string;
  browser: string;
  prompt?: string;
  tokenMode?: boolean;
  link?: string;
  interaction?: string;
  /** Step-up: the sign-in must prove a second factor (access rules' `require: { mfa: true }`). */
  mfa?: boolean;
  /** The sign-in must be shown to be new (`max_age=0`; SignInStart.reauthenticate). */
  reauthenticate?: boolean;
}
/** A completed sign-in on its way back to the app host that started it (in the browser that did). */
export interface Handoff {
  secret: string;
  host: string;
  redirect: string;
  browser: string;
  tokenMode?: boolean;
}
/** A completed sign-in on its way back to the OpenID Provider's interaction: who, and when they proved it. */
export interface OpenIdLogin {
  interaction: string;
  accountId: string;
  authTime: number;
  /** How the sign-in authenticated (RFC 8176), and whether that proved a second factor. */
  amr: string[];
  multiFactor: boolean;
}
/** Where to land on an app host after the provider's own sign-out. */
export interface LogoutReturn {
  host: string;
  target: string;
}

/** The payload of each kind of code. */
export interface CodePayloads {
  /** Made on the app host, taken at the auth host's /start. */
  'login-request': LoginRequest;
  /** The OAuth `state` of a sign-in at the provider (or on SignOnce's own form). */
  'login-state': LoginRequest;
  handoff: Handoff;
  'oidc-login': OpenIdLogin;
  'logout-return': LogoutReturn;
}
export type CodeKind = keyof CodePayloads;

const LOGIN_TTL_MS = 5 * 60_000;
const HANDOFF_TTL_MS = 60_000;

/** How long a code of each kind can be consumed. */
export const CODE_TTL_MS: { readonly [K in CodeKind]: number } = {
  'login-request': LOGIN_TTL_MS,
  'login-state': LOGIN_TTL_MS,
  handoff: HANDOFF_TTL_MS,
  'oidc-login': HANDOFF_TTL_MS,
  'logout-return': 5 * 60_000,
};

type CodeStore = Pick<Store, 'issueCode' | 'consumeCode'>;

/** Issues a single-use code of `kind` carrying `payload`, live for the kind's lifetime. */
export function issueCode<K extends CodeKind>(store: CodeStore, kind: K, payload: CodePayloads[K]): Promise<string> {
  return store.issueCode(kind, payload, CODE_TTL_MS[kind]);
}

/** The payload of a live code of `kind`, removing it (single use); undefined for any other code. */
export async function consumeCode<K extends CodeKind>(
  store: CodeStore,
  kind: K,
  code: string,
): Promise<CodePayloads[K] | undefined> {
  // The store hands back what issueCode stored under this kind: a CodePayloads[K].
  return (await store.consumeCode(kind, code)) as CodePayloads[K] | undefined;
}
