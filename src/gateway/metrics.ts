// Prometheus metrics (prom-client), one registry per gateway, served at /metrics to the addresses
// of `metrics.allowFrom` only (a scrape target, not a public page). Every label takes a bounded
// set of values — routes are named by pattern, never by their path — so no client can grow them.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { routes, type HostKind } from './route-table.ts';

// Seconds: from a cached answer (well under a millisecond) to a provider or app taking seconds.
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The label of a request's route: its route's (route-table.ts, a fixed string), `app` for what
 * goes to the app, `/.auth/other` or `other` for anything else.
 */
export function routeLabel(host: HostKind, path: string): string {
  const label = routes.named(host, path)?.label;
  if (label) return label;
  if (host === 'app') return path.startsWith('/.auth/') ? '/.auth/other' : 'app';
  return 'other';
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'signonce_http_requests_total',
    help: 'Requests answered, by host kind, route and status',
    labelNames: ['host', 'route', 'status'],
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: 'signonce_http_request_duration_seconds',
    help: 'Time to answer a request, by host kind and route',
    labelNames: ['host', 'route'],
    buckets: BUCKETS,
    registers: [this.registry],
  });
  readonly signIns = new Counter({
    name: 'signonce_sign_ins_total',
    help: 'Sign-ins by provider and outcome (success, failed, refused)',
    labelNames: ['provider', 'outcome'],
    registers: [this.registry],
  });
  readonly refreshes = new Counter({
    name: 'signonce_token_refreshes_total',
    help: 'Refresh grants asked of providers, by provider and outcome',
    labelNames: ['provider', 'outcome'],
    registers: [this.registry],
  });
  readonly upstreamSeconds = new Histogram({
    name: 'signonce_upstream_duration_seconds',
    help: 'Time an app took to answer a proxied request (to the end of its answer), by app',
    labelNames: ['app'],
    buckets: BUCKETS,
    registers: [this.registry],
  });
  readonly storeSeconds = new Histogram({
    name: 'signonce_store_duration_seconds',
    help: 'Time of store operations, by kind (query, transaction, locked: held while a provider answers)',
    labelNames: ['operation'],
    buckets: BUCKETS,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'signonce_rate_limited_total',
    help: 'Requests refused with 429 by a rate limit',
    labelNames: ['limit'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'signonce_' });
  }

  /** The text exposition format, and its content type. */
  async exposition(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
