// One JSON line per event (pino). What must never reach a log line is removed by configuration:
// the redaction paths below and the request serializer, so a secret is kept out by rule, not luck.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

const SECRET_FIELDS = [
  'accessToken',
  'refreshToken',
  'idToken',
  'accessTokenSecret',
  'authenticationToken',
  'access_token',
  'refresh_token',
  'id_token',
  'access_token_secret',
  'authorization_code',
  'token',
  'clientSecret',
  'client_secret',
  'consumerSecret',
  'password',
  'secret',
  'encryptionKeys',
  'privateJwk',
];

const SECRET_HEADERS = ['authorization', 'cookie', 'x-zumo-auth', 'proxy-authorization'];

/** pino redaction paths: secret fields at the top level and one level down, and credential headers. */
export const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`]),
  ...SECRET_HEADERS.map((header) => `req.headers["${header}"]`),
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-zumo-auth"]',
];

/**
 * A URL as it may be logged: the path, and the names of its query parameters with their values
 * removed (OAuth callbacks carry codes and tokens in the query string).
 */
export function loggableUrl(url: string): string {
  const query = url.indexOf('?');
  if (query === -1) return url;
  const names = url
    .slice(query + 1)
    .split('&')
    .filter(Boolean)
    .map((pair) => `${pair.split('=', 1)[0]}=[Redacted]`);
  return `${url.slice(0, query)}?${names.join('&')}`;
}

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
  /** Where lines go; stdout (written synchronously, so a crash loses no line) by default. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'signonce' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
      serializers: {
        err: pino.stdSerializers.err,
        req: (req: { method: string; url: string; host?: string; hostname?: string; ip?: string; id?: string }) => ({
          id: req.id,
          method: req.method,
          host: req.host ?? req.hostname,
          url: loggableUrl(req.url),
          remoteAddress: req.ip,
        }),
      },
    },
    options.destination ?? pino.destination(1),
  );
}

type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * A child logger made only when first written to. Fastify asks for one per request, to bind the
 * request id; pino makes it eagerly, which costs a proxied request more than its session lookup
 * (bench/gateway.ts), while most requests write nothing at the configured level.
 */
class LazyChildLogger {
  readonly #parent: Logger;
  readonly #bindings: Record<string, unknown>;
  #child: Logger | undefined;

  constructor(parent: Logger, bindings: Record<string, unknown>) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  get level(): string {
    return this.#parent.level;
  }
  isLevelEnabled(level: string): boolean {
    return this.#parent.isLevelEnabled(level);
  }
  child(bindings: Record<string, unknown>, options?: object): Logger {
    return this.#made().child(bindings, options);
  }
  silent(): void {}
  fatal(...args: unknown[]): void {
    this.#write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#write('error', args);
  }
  warn(...args: unknown[]): void {
    this.#write('warn', args);
  }
  info(...args: unknown[]): void {
    this.#write('info', args);
  }
  debug(...args: unknown[]): void {
    this.#write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#write('trace', args);
  }

  #made(): Logger {
    this.#child ??= this.#parent.child(this.#bindings);
    return this.#child;
  }

  #write(level: LevelName, args: unknown[]): void {
    if (this.#parent.isLevelEnabled(level)) (this.#made()[level] as (...a: unknown[]) => void)(...args);
  }
}

/** For Fastify's `childLoggerFactory`: a lazily made child, or a real one when options change it. */
export function requestLogger(parent: Logger, bindings: Record<string, unknown>, options: object): Logger {
  if (Object.keys(options).length) return parent.child(bindings, options);
  // Only the methods Fastify and SignOnce call exist; the type is pino's for Fastify's sake.
  return new LazyChildLogger(parent, bindings) as unknown as Logger;
}
