// The gateway's side of the audit log (src/audit): events of requests carry where they came
// from, and a sign-in's outcome is logged, counted and audited by one function.
import type { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';
import type { AuditOrigin, AuditRecord } from '../audit/audit-log.ts';
import type { GatewayContext } from './context.ts';

/** The client of `request` as the audit log keeps it: address (through trustedProxies), User-Agent, request id. */
export const auditOrigin = (ctx: GatewayContext, request: FastifyRequest): AuditOrigin =>
  rawAuditOrigin(ctx, request.raw, String(request.id));

/** auditOrigin of a request Fastify does not route (a WebSocket upgrade). */
export const rawAuditOrigin = (ctx: GatewayContext, raw: IncomingMessage, requestId: string): AuditOrigin => ({
  ...ctx.clientDeviceOf(raw),
  requestId,
});

/** Appends an event caused by `request` (AuditLog.record: never rejects). */
export function recordAudit(
  ctx: GatewayContext,
  request: FastifyRequest,
  event: Omit<AuditRecord, keyof AuditOrigin>,
): Promise<unknown> {
  return ctx.audit.record({ ...event, ...auditOrigin(ctx, request) });
}

/** How a person signed in: at the provider, by single sign-on, with a local password, ... */
export type SignInMethod =
  | 'provider'
  | 'sso'
  | 'password'
  | 'passkey'
  | 'registration'
  | 'client-directed'
  | 'external-token';

export interface SignInEvent {
  /** The provider (or external issuer) id; absent when the refusal came before one was known. */
  readonly provider?: string | undefined;
  /** `refused`: the sign-in was not allowed (disabled account, replayed state); `failed`: not proven. */
  readonly outcome: 'success' | 'failed' | 'throttled' | 'refused';
  readonly method: SignInMethod;
  readonly account?: string | undefined;
  readonly app?: string | undefined;
  /** Which kind of failure (a ProviderError's kind: denied, unreachable, invalid-response). */
  readonly failure?: string | undefined;
  /** Why it did not succeed, in words (a provider's error, never a token or password). */
  readonly reason?: string | undefined;
}

/**
 * A sign-in's outcome: logged (info on success, warn otherwise) with `message`, counted in
 * `signonce_sign_ins_total` (single sign-on hand-offs are not sign-ins at a provider: not counted),
 * and audited as `sign-in`.
 */
export function signInHappened(
  ctx: GatewayContext,
  request: FastifyRequest,
  event: SignInEvent,
  message: string,
): Promise<unknown> {
  const { provider, outcome, method, account, app, failure, reason } = event;
  const fields = { provider, method, account, app, kind: failure, reason };
  if (outcome === 'success') request.log.info(fields, message);
  else request.log.warn(fields, message);
  if (provider !== undefined && method !== 'sso') ctx.metrics.signIns.inc({ provider, outcome });
  return recordAudit(ctx, request, {
    kind: 'sign-in',
    outcome,
    accountId: account,
    // Who acted: the account's holder once proven; a failed attempt's actor is unknown.
    actor: outcome === 'success' ? account : undefined,
    app,
    detail: { provider, method, failure, reason },
  });
}
