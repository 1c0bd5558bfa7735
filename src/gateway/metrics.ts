// Prometheus metrics (prom-client), one registry per gateway, served at /metrics to the addresses
// of `metrics.allowFrom` only (a scrape target, not a public page). Every label takes a bounded
// set of values — routes are named by pattern, never by their path — so no client can grow them.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HostRoute } from './rules/hosts.ts';

// Seconds: from a cached answer (well under a millisecond) to a provider or app taking seconds.
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const APP_ROUTES: ReadonlyArray<[RegExp, string]> = [
  [/^\/\.auth\/login\/done$/, '/.auth/login/done'],
  [/^\/\.auth\/(login|link|unlink|external)\/[^/]+$/, '/.auth/$1/{id}'],
  [/^\/\.auth\/(login|me|refresh|token|logout|logout\/complete|exchange)$/, '/.auth/$1'],
];
const AUTH_ROUTES: ReadonlyArray<[RegExp, string]> = [
  [/^\/\.auth\/login\/[^/]+\/(start|callback|form|register)$/, '/.auth/login/{id}/$1'],
  [/^\/\.auth\/oidc\/interaction\//, '/.auth/oidc/interaction'],
  // The OpenID Provider's endpoints (OIDC_ROUTES), the longest first; what follows is an id.
  [/^\/\.auth\/oidc\/(token\/revocation|token\/introspection|session\/end\/confirm|session\/end|token|auth|me)(?=\/|$)/, '/.auth/oidc/$1'],
  [/^\/(\.auth\/logout\/done|\.auth\/token|\.well-known\/jwks\.json|\.well-known\/openid-configuration)$/, '/$1'],
];
const PROBES: [RegExp, string] = [/^\/(healthz|readyz|metrics)$/, '/$1'];

/** The name of the first rule matching `path`, its placeholders filled from the match. */
function firstRule(rules: ReadonlyArray<[RegExp, string]>, path: string): string | undefined {
  for (const [pattern, name] of rules) {
    const match = pattern.exec(path);
    if (match) return match[0].replace(pattern, name);
  }
  return undefined;
}

/** The label of a request's route: a pattern from a fixed list, `app` for what goes to the app, `other` for anything else. */
export function routeLabel(host: HostRoute['kind'], path: string): string {
  if (host === 'app') return path.startsWith('/.auth/') ? firstRule(APP_ROUTES, path) ?? '/.auth/other' : 'app';
  return firstRule(host === 'auth' ? [...AUTH_ROUTES, PROBES] : [PROBES], path) ?? 'other';
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'signonce_http_requests_total', help: 'Requests answered, by host kind, route and status', labelNames: ['host', 'route', 'status'], registers: [this.registry] });
  readonly requestSeconds = new Histogram({ name: 'signonce_http_request_duration_seconds', help: 'Time to answer a request, by host kind and route', labelNames: ['host', 'route'], buckets: BUCKETS, registers: [this.registry] });
  readonly signIns = new Counter({ name: 'signonce_sign_ins_total', help: 'Sign-ins by provider and outcome (success, failed, refused)', labelNames: ['provider', 'outcome'], registers: [this.registry] });
  readonly refreshes = new Counter({ name: 'signonce_token_refreshes_total', help: 'Refresh grants asked of providers, by provider and outcome', labelNames: ['provider', 'outcome'], registers: [this.registry] });
  readonly upstreamSeconds = new Histogram({ name: 'signonce_upstream_duration_seconds', help: 'Time an app took to answer a proxied request (to the end of its answer), by app', labelNames: ['app'], buckets: BUCKETS, registers: [this.registry] });
  readonly storeSeconds = new Histogram({ name: 'signonce_store_duration_seconds', help: 'Time of store operations, by kind (query, transaction, locked: held while a provider answers)', labelNames: ['operation'], buckets: BUCKETS, registers: [this.registry] });
  readonly rateLimited = new Counter({ name: 'signonce_rate_limited_total', help: 'Requests refused with 429 by a rate limit', labelNames: ['limit'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'signonce_' });
  }

  /** The text exposition format, and its content type. */
  async exposition(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
