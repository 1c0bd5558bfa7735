// One JSON line per event (pino). What must never reach a log line is removed by configuration:
// the redaction paths below and the request serializer, so a secret is kept out by rule, not luck.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

const SECRET_FIELDS = [
  'accessToken', 'refreshToken', 'idToken', 'accessTokenSecret', 'authenticationToken',
  'access_token', 'refresh_token', 'id_token', 'access_token_secret', 'authorization_code', 'token',
  'clientSecret', 'client_secret', 'consumerSecret', 'password', 'secret', 'encryptionKeys', 'privateJwk',
];

const SECRET_HEADERS = ['authorization', 'cookie', 'x-zumo-auth', 'proxy-authorization'];

/** pino redaction paths: secret fields at the top level and one level down, and credential headers. */
export const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`]),
  ...SECRET_HEADERS.map((header) => `req.headers["${header}"]`),
  'res.headers["set-cookie"]',
  'headers.authorization', 'headers.cookie', 'headers["x-zumo-auth"]',
];

/**
 * A URL as it may be logged: the path, and the names of its query parameters with their values
 * removed (OAuth callbacks carry codes and tokens in the query string).
 */
export function loggableUrl(url: string): string {
  const query = url.indexOf('?');
  if (query === -1) return url;
  const names = url.slice(query + 1).split('&').filter(Boolean)
    .map((pair) => `${pair.split('=', 1)[0]}=[Redacted]`);
  return `${url.slice(0, query)}?${names.join('&')}`;
}

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
  /** Where lines go; stdout (written synchronously, so a crash loses no line) by default. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({
    level: options.level ?? 'info',
    base: { service: 'signonce' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
    serializers: {
      err: pino.stdSerializers.err,
      req: (req: { method: string; url: string; host?: string; hostname?: string; ip?: string; id?: string }) => ({
        id: req.id, method: req.method, host: req.host ?? req.hostname, url: loggableUrl(req.url), remoteAddress: req.ip,
      }),
    },
  }, options.destination ?? pino.destination(1));
}
