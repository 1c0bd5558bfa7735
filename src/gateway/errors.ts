// The one place that decides how the gateway answers a refusal or a failure: the status, headers
// and body of each coded error (errorAnswer), the refusals many endpoints answer alike, and how an
// answer goes out (JSON for API callers; a page for browsers where the answer has one).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccountDisabledError } from '../accounts/accounts.ts';
import { ExternalTokenRefused, IssuerUnavailable } from '../accounts/external-issuers.ts';
import type { UnmetRequirement } from '../access/step-up.ts';
import type { AppConfig } from '../config/index.ts';
import { RefreshError, type RefreshFailure } from '../refresh/refresher.ts';
import { IdentityConflictError, LastIdentityError, StoreUnavailableError } from '../store/index.ts';
import { page } from './http.ts';
import { errorPage } from './pages.ts';
import { bearerChallenge } from './rules/bearer-challenge.ts';

/** A JSON error body: `error` says what, in words or as a code; other fields add detail. */
export interface ErrorBody {
  readonly error: string;
  readonly [detail: string]: unknown;
}

export const NOT_SIGNED_IN: ErrorBody = { error: 'not signed in' };
export const CROSS_SITE_REFUSED: ErrorBody = { error: 'cross-site request refused' };
export const MANY_HOSTS: ErrorBody = { error: 'more than one Host header' };
export const NO_SUCH_AUTH_ENDPOINT: ErrorBody = { error: 'no such /.auth endpoint' };
export const NOT_FOUND: ErrorBody = { error: 'not found' };
/** A forward-auth app's path that reached SignOnce: the operator's proxy serves it (docs/forward-auth.md). */
export const NOT_PROXIED: ErrorBody = {
  error: 'this app is served by a proxy in front of it (forward-auth): only its /.auth/ paths are routed to SignOnce',
};

type Headers = Readonly<Record<string, string | string[]>>;
const NO_STORE = { 'cache-control': 'no-store' } as const;

/** How one error is answered: JSON `body`, or for browsers `page` when there is one (both: by what the caller sent). */
export interface ErrorAnswer {
  readonly status: number;
  /** Headers of the JSON answer (pages bring their own, pages.ts pageHeaders). */
  readonly headers?: Headers;
  readonly body?: ErrorBody;
  readonly page?: { readonly title: string; readonly text: string };
}

// 'limited' is answered as every rate limit is (tooManyRequests).
const REFRESH_STATUS: Readonly<Record<Exclude<RefreshFailure, 'limited'>, number>> = {
  'no-refresh-token': 400,
  refused: 403,
  unreachable: 503,
  'invalid-response': 502,
};
const REFRESH_ADVICE: Readonly<Record<Exclude<RefreshFailure, 'limited'>, string>> = {
  'no-refresh-token':
    'no refresh token is stored for this sign-in: sign in again with offline access (the offline_access scope, or access_type=offline at Google)',
  refused: 'the provider refused the refresh (consent revoked, or the grant expired): sign in again',
  unreachable: 'the provider could not be reached; the stored tokens are unchanged: try again later',
  'invalid-response': 'the provider answered something SignOnce could not accept; the stored tokens are unchanged',
};

/** 429 with Retry-After (RFC 6585 section 4): this client asked too often; `waitMs` until it may again. */
function tooManyAnswer(waitMs: number): ErrorAnswer {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return {
    status: 429,
    headers: { 'retry-after': String(seconds), ...NO_STORE },
    body: { error: 'too many requests', reason: `try again in ${seconds} s` },
  };
}

/**
 * Anything else, the store's outage included: 503, sessions kept (an outage must not look like a
 * sign-out), and nothing of the error told.
 */
const UNAVAILABLE: ErrorAnswer = {
  status: 503,
  page: {
    title: 'Service unavailable',
    text: 'SignOnce cannot serve this request right now. Please try again in a moment.',
  },
};

/** The answer to `error`; for an error that is not one of SignOnce's refusals, 503 (UNAVAILABLE). */
export function errorAnswer(error: unknown): ErrorAnswer {
  if (error instanceof RefreshError) {
    if (error.failure === 'limited') return tooManyAnswer(error.retryAfterMs ?? 0);
    return {
      status: REFRESH_STATUS[error.failure],
      headers: NO_STORE,
      body: { error: REFRESH_ADVICE[error.failure], reason: error.failure },
    };
  }
  // Every way in refuses a disabled account (accounts.ts assertEnabled); the answer is one.
  if (error instanceof AccountDisabledError)
    return {
      status: 401,
      headers: NO_STORE,
      body: { error: 'account_disabled', reason: error.message },
      page: { title: 'Account disabled', text: error.message },
    };
  if (error instanceof ExternalTokenRefused)
    return { status: 401, body: { error: 'invalid_token', reason: error.message } };
  // The error's message (logged) may say more of the issuer's answer than callers need.
  if (error instanceof IssuerUnavailable)
    return {
      status: 502,
      body: { error: 'issuer_unavailable', reason: `the keys of ${error.issuer} could not be fetched` },
    };
  if (error instanceof IdentityConflictError)
    return {
      status: 409,
      body: { error: 'already_linked', reason: 'this identity was linked to another account meanwhile' },
    };
  if (error instanceof LastIdentityError) return { status: 409, body: { error: error.message } };
  return UNAVAILABLE;
}

/** Whether the caller sent JSON (an API call), so an answer with a page and a body answers JSON. */
const sentJson = (request: FastifyRequest) => /^application\/json\b/i.test(request.headers['content-type'] ?? '');

/** Sends `answer`: its JSON body, unless it has a page and the caller did not send JSON. */
export function sendAnswer(request: FastifyRequest, reply: FastifyReply, answer: ErrorAnswer) {
  if (answer.body && (!answer.page || sentJson(request)))
    return sendError(reply, answer.status, answer.body, answer.headers);
  return page(reply, answer.status, errorPage(answer.page!.title, answer.page!.text));
}

/** A request that failed with `error`, logged and answered (errorAnswer). */
export function answerError(request: FastifyRequest, reply: FastifyReply, error: unknown) {
  if (error instanceof AccountDisabledError)
    request.log.warn({ account: error.accountId }, 'sign-in refused: the account is disabled');
  else if (error instanceof StoreUnavailableError)
    request.log.error({ reason: error.message }, 'the store is unreachable: answered 503');
  else request.log.error({ err: error }, 'request failed');
  return sendAnswer(request, reply, errorAnswer(error));
}

/** A JSON error answer. */
export const sendError = (reply: FastifyReply, status: number, body: ErrorBody, headers: Headers = {}) =>
  reply.code(status).headers(headers).send(body);

/** 401 to a request of SignOnce's own endpoints that is not signed in. */
export const notSignedIn = (reply: FastifyReply) => sendError(reply, 401, NOT_SIGNED_IN, NO_STORE);

/**
 * RFC 6750 section 3.1: the token presented is not accepted, and why (never the token);
 * `resourceMetadata` where the app's protected-resource metadata is (RFC 9728 section 5.1).
 */
export const invalidToken = (reply: FastifyReply, appConfig: AppConfig, why: string, resourceMetadata?: string) =>
  sendError(
    reply,
    401,
    { error: 'the authentication token is not accepted here', reason: why },
    {
      'www-authenticate': bearerChallenge({
        realm: appConfig.id,
        error: 'invalid_token',
        description: why,
        resourceMetadata,
      }),
      ...NO_STORE,
    },
  );

/**
 * 401 for a sign-in that proved too little for the rule that lets its user in (step-up): what is
 * missing, and the age asked for (RFC 9470 section 3: `insufficient_user_authentication`, `max_age`).
 */
export const insufficientAuthentication = (
  reply: FastifyReply,
  appConfig: AppConfig,
  unmet: UnmetRequirement,
  resourceMetadata?: string,
) =>
  sendError(
    reply,
    401,
    { error: 'insufficient_user_authentication', reason: unmet.reason },
    {
      'www-authenticate': bearerChallenge({
        realm: appConfig.id,
        error: 'insufficient_user_authentication',
        description: unmet.reason,
        maxAge: unmet.maxAgeMs === undefined ? undefined : Math.floor(unmet.maxAgeMs / 1000),
        resourceMetadata,
      }),
      ...NO_STORE,
    },
  );

/** Logs that a provider's keys could not be had (whose, and why), before the 503 that says nothing of it. */
export function logKeysUnavailable(log: FastifyRequest['log'], error: IssuerUnavailable): void {
  log.warn({ provider: error.issuer, reason: error.message }, "a provider's keys could not be fetched: answered 503");
}

/**
 * 503: a provider's token was presented and the provider's keys cannot be had now (its discovery
 * or key set unreachable): nothing is said of the token; the reason is logged.
 */
export function keysUnavailable(request: FastifyRequest, reply: FastifyReply, error: IssuerUnavailable) {
  logKeysUnavailable(request.log, error);
  return sendError(
    reply,
    503,
    { error: 'temporarily_unavailable', reason: `the keys of ${error.issuer} could not be fetched: try again shortly` },
    { 'retry-after': '5', ...NO_STORE },
  );
}

/** 405 naming the methods the endpoint takes (RFC 9110 section 15.5.6). */
export const methodNotAllowed = (reply: FastifyReply, allow: string) =>
  sendError(reply, 405, { error: 'method not allowed' }, { allow });

/** 429 with Retry-After: this client asked too often; `waitMs` until it may again. */
export function tooManyRequests(reply: FastifyReply, waitMs: number) {
  const { status, body, headers } = tooManyAnswer(waitMs);
  return sendError(reply, status, body!, headers);
}
