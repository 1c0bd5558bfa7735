// The configuration contract (DESIGN.md), validated and typed. Messages say what is wrong with the
// value and how to fix it; the loader adds where. Cross-field rules live in checks.ts.
import { createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import { decodeKey } from '../crypto/keyring.ts';
import { DURATION_HINT, parseDuration } from './duration.ts';
import { redirectUriProblem } from './redirect-uris.ts';

/** A value as it appears in a message: strings quoted, everything else as JSON. */
export const show = (value: unknown): string => JSON.stringify(value) ?? String(value);

function rule<T extends z.ZodType>(
  schema: T,
  ok: (value: z.output<T>) => boolean,
  message: (value: z.output<T>) => string,
) {
  return schema.superRefine((value, ctx) => {
    if (!ok(value)) ctx.addIssue({ code: 'custom', message: message(value) });
  });
}

function parsedUrl(value: string): URL | undefined {
  return URL.canParse(value) ? new URL(value) : undefined;
}

const isHttpUrl = (value: string) => ['http:', 'https:'].includes(parsedUrl(value)?.protocol ?? '');

export const ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const id = rule(
  z.string(),
  (v) => ID_PATTERN.test(v),
  (v) =>
    `${show(v)} is not an id (lower-case letters, digits, "-" and "_", at most 64; it appears in URLs and header names)`,
);
const text = rule(
  z.string(),
  (v) => v.trim() !== '',
  () => 'must not be empty',
);
const httpUrl = rule(z.string(), isHttpUrl, (v) => `${show(v)} is not an http(s) URL`);
const absoluteUrl = rule(
  z.string(),
  (v) => parsedUrl(v) !== undefined,
  (v) => `${show(v)} is not an absolute URL (e.g. https://app.example/done or myapp://easyauth.callback)`,
);
const stringMap = z.record(z.string(), z.string());

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) ctx.addIssue({ code: 'custom', message: `${show(value)} is not ${DURATION_HINT}` });
  return ms ?? 0;
});

const publicUrl = rule(
  z.string(),
  (v) => {
    const url = parsedUrl(v);
    return !!url && isHttpUrl(v) && url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
  },
  (v) => `${show(v)} is not an origin URL like https://auth.example.com (http or https, no path, query or credentials)`,
).transform((v) => new URL(v).origin);

/** A store URL as it may be shown: never with its password. */
export function redactStoreUrl(value: string): string {
  const url = parsedUrl(value);
  // One that does not parse may hold a password all the same: whatever lies between "//user:" and the last "@".
  if (!url) return value.replace(/(\/\/[^/@:]*:).*@/, '$1***@');
  if (!url.password) return value;
  url.password = '***';
  return url.toString();
}

const store = rule(
  z.string(),
  (v) => /^sqlite:./.test(v) || (/^postgres(ql)?:\/\//.test(v) && parsedUrl(v) !== undefined),
  (v) => `${show(redactStoreUrl(v))} is not a store URL (use sqlite:PATH or postgres://user:password@host:5432/db)`,
);

const encryptionKey = rule(
  z.string(),
  (v) => decodeKey(v) !== undefined,
  (v) => {
    const what = /^[A-Za-z0-9_-]*$/.test(v)
      ? `decodes to ${Buffer.from(v, 'base64url').length} bytes`
      : 'not base64url';
    return `not a 256-bit key (${what}; generate one with \`signonce keys generate\`)`;
  },
);

// RFC 9110 section 5.6.2: a token (cookie names and methods are tokens).
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 6265 section 4.1.1: a cookie name is a token.
const cookieName = rule(
  z.string(),
  (v) => HTTP_TOKEN.test(v),
  (v) => `${show(v)} is not a valid cookie name`,
);

const HOST_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOST_PATTERN = new RegExp(`^(?=[^:]{1,253}(?::|$))${HOST_LABEL}(?:\\.${HOST_LABEL})*(?::(\\d{1,5}))?$`);
const host = z
  .string()
  .transform((v) => v.toLowerCase())
  .superRefine((v, ctx) => {
    const match = HOST_PATTERN.exec(v);
    const port = match?.[1] === undefined ? 1 : Number(match[1]);
    if (!match || port < 1 || port > 65535)
      ctx.addIssue({
        code: 'custom',
        message: `${show(v)} is not a host or host:port (e.g. app1.example.com or app1.localhost:8080)`,
      });
  });

/** True when `entry` is an IP address or a network in CIDR notation. */
export function isAddressOrNetwork(entry: string): boolean {
  const [address, prefix, extra] = entry.split('/');
  const version = isIP(address ?? '');
  if (!version || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128));
}
/** At most `limit` requests per `window`, refilled steadily (a token bucket; 0 turns it off). */
const rateLimit = z.strictObject({
  limit: z.number().int().min(0),
  window: duration.refine((ms) => ms >= 1000, 'must be at least 1s'),
});

const proxyAddress = rule(
  z.string(),
  isAddressOrNetwork,
  (v) => `${show(v)} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8)`,
);

// Provider tokens refreshed before a proxied request when they expire within `ahead`; if that
// refresh fails, the request goes on with the tokens it has (`proceed`) or is answered 401.
const refresh = z.strictObject({
  ahead: duration.prefault('5m'),
  onRefreshFailure: z.enum(['proceed', '401']).default('proceed'),
});

/** An `acr` value: acr_values separates them with spaces (OpenID Connect Core 1.0 section 3.1.2.1). */
const acrValue = rule(
  z.string(),
  (v) => /^[\x21-\x7e]+$/.test(v),
  (v) =>
    `${show(v)} is not an acr value (printable ASCII without spaces, e.g. "http://schemas.openid.net/pape/policies/2007/06/multi-factor")`,
);

const oidcFields = {
  issuer: httpUrl,
  refresh: refresh.prefault({}),
  clientId: text,
  clientSecret: z.string().optional(),
  scopes: z.array(text).optional(),
  authorizationParams: stringMap.optional(),
  // Microsoft Graph, to resolve Entra ID group overage (README, "Groups from providers").
  graphUrl: httpUrl.optional(),
  // The `acr` values meaning a second factor at this provider (README, "Step-up"): sent as
  // acr_values on a step-up, and an answer with one of them proves a second factor.
  mfaAcrValues: z
    .array(acrValue)
    .min(1, 'lists no value: leave mfaAcrValues out, or name the acr values that mean a second factor at this provider')
    .optional(),
};
const oauth2Fields = {
  authorizationUrl: httpUrl,
  refresh: refresh.prefault({}),
  tokenUrl: httpUrl,
  userinfoUrl: httpUrl.optional(),
  clientId: text,
  clientSecret: z.string().optional(),
  scopes: z.array(text).optional(),
  claims: z.strictObject({ id: text.optional(), name: text.optional(), email: text.optional() }).optional(),
  authorizationParams: stringMap.optional(),
  // GitHub-style APIs listing the user's organisations and teams, read as groups.
  orgsUrl: httpUrl.optional(),
  teamsUrl: httpUrl.optional(),
};
const oauth1Fields = {
  requestTokenUrl: httpUrl,
  authorizeUrl: httpUrl,
  accessTokenUrl: httpUrl,
  userinfoUrl: httpUrl.optional(),
  consumerKey: text,
  consumerSecret: z.string().optional(),
};

/** Every field of `fields`, optional: a preset fills what is not given. */
function optional<F extends z.ZodRawShape>(fields: F) {
  return Object.fromEntries(
    Object.entries(fields).map(([key, schema]) => [key, (schema as z.ZodType).optional()]),
  ) as unknown as { [K in keyof F]: z.ZodOptional<F[K]> };
}

// Presets: well-known providers whose endpoints are data (filled in by the providers module); any
// field may be given to override the preset, e.g. to point it at a local identity provider.
const OIDC_PRESETS = ['google', 'aad', 'microsoftaccount'] as const;
const OAUTH2_PRESETS = ['facebook', 'github'] as const;
/** Provider types whose issuer and keys SignOnce discovers (OpenID Connect): their JWTs can be verified. */
export const OIDC_PROVIDER_TYPES: readonly string[] = ['oidc', ...OIDC_PRESETS];
/** Provider types whose tokens SignOnce refreshes (OAuth 2 refresh-token grant). */
export const REFRESHING_PROVIDER_TYPES: readonly string[] = [
  'oidc',
  'oauth2',
  'apple',
  ...OIDC_PRESETS,
  ...OAUTH2_PRESETS,
];

/** The .p8 key Apple gives for Sign in with Apple: EC P-256, PKCS #8 PEM. Never shown in messages. */
function isEcP256PrivateKey(pem: string): boolean {
  try {
    return createPrivateKey(pem).asymmetricKeyDetails?.namedCurve === 'prime256v1';
  } catch {
    return false;
  }
}
const applePrivateKey = rule(
  z.string(),
  isEcP256PrivateKey,
  () =>
    'is not an EC P-256 private key in PEM form (the AuthKey_….p8 file from Apple, "-----BEGIN PRIVATE KEY-----…"); put it in a variable: privateKey: "${APPLE_PRIVATE_KEY}"',
);

// Every provider: an id, the name its button shows on the sign-in page, and whether it asserts
// only verified e-mails even without `email_verified` (access rules on e-mails read it).
const named = { id, displayName: text.optional(), trustEmail: z.boolean().default(false) };

export const PROVIDER_SCHEMAS = [
  z.strictObject({
    ...named,
    type: z.literal('oidc'),
    ...oidcFields,
    scopes: z.array(text).default(['openid', 'profile', 'email']),
  }),
  z.strictObject({ ...named, type: z.literal('oauth2'), ...oauth2Fields, scopes: z.array(text).default([]) }),
  z.strictObject({ ...named, type: z.literal('oauth1'), ...oauth1Fields }),
  z.strictObject({
    ...named,
    type: z.literal('password'),
    allowRegistration: z.boolean().default(false),
    minLength: z.number().int().min(8).max(128).default(12),
    // Second factors (TOTP) of its accounts: `optional` (each user may turn one on, and then always
    // needs it), `required` (every account enrols at its next sign-in), `off` (none asked or offered).
    mfa: z.enum(['optional', 'required', 'off']).default('optional'),
  }),
  z.strictObject({ ...named, type: z.literal('dev') }),
  ...OIDC_PRESETS.map((type) =>
    z.strictObject({ ...optional(oidcFields), ...named, type: z.literal(type), clientId: text }),
  ),
  // Apple's client secret is a JWT SignOnce signs with the team's key, never a fixed string.
  z.strictObject({
    ...optional(oidcFields),
    clientSecret: rule(
      z.unknown(),
      (v) => v === undefined,
      () => 'is not used by apple: SignOnce makes the client secret from teamId, keyId and privateKey',
    ).optional(),
    ...named,
    type: z.literal('apple'),
    clientId: text,
    teamId: text,
    keyId: text,
    privateKey: applePrivateKey,
  }),
  ...OAUTH2_PRESETS.map((type) =>
    z.strictObject({ ...optional(oauth2Fields), ...named, type: z.literal(type), clientId: text }),
  ),
  z.strictObject({ ...optional(oauth1Fields), ...named, type: z.literal('twitter'), consumerKey: text }),
] as const;

// A token for another resource (an API), got with the sign-in's refresh token: named by an RFC 8707
// resource indicator, by scopes, or both.
export const RESOURCE_ALIAS_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
const resourceIndicator = rule(
  z.string(),
  (v) => parsedUrl(v) !== undefined && !v.includes('#'),
  (v) =>
    `${show(v)} is not a resource indicator (RFC 8707 section 2: an absolute URI without a fragment, e.g. https://api.example.com)`,
);
const appResource = z
  .strictObject({
    alias: rule(
      z.string(),
      (v) => RESOURCE_ALIAS_PATTERN.test(v),
      (v) =>
        `${show(v)} is not an alias (lower-case letters, digits and "-", at most 32; it names the header X-SIGNONCE-TOKEN-{ALIAS})`,
    ),
    provider: id,
    resource: resourceIndicator.optional(),
    scopes: z.array(text).default([]),
    inject: z.boolean().default(false),
  })
  .refine(
    (r) => r.resource !== undefined || r.scopes.length > 0,
    'needs a resource (an RFC 8707 indicator), scopes, or both: they say which token to get',
  );

// Access rules (README, "Access rules"): who may reach an app or sign in to a client. Matching is
// src/access/rules.ts; here every value is checked so that a rule reads as it matches.
export const CONDITION_KINDS = [
  'emails',
  'emailDomains',
  'groups',
  'roles',
  'providers',
  'accounts',
  'claims',
  'applications',
  'authenticated',
  'all',
] as const;
/** A list in a condition: an empty one would match no one, which is never what was meant. */
const values = <T extends z.ZodType>(item: T) =>
  z.array(item).min(1, 'is empty: it matches no one (list values, or remove it)');
const DOMAIN_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const DOMAIN = new RegExp(`^${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})+$`);
const emailAddress = rule(
  z.string(),
  (v) => {
    const at = v.split('@');
    return at.length === 2 && /^[^\s@]+$/.test(at[0]!) && DOMAIN.test(at[1]!);
  },
  (v) =>
    `${show(v)} is not an e-mail address (one "@", then an ASCII domain: write an internationalised domain in its xn-- form)`,
);
const emailDomain = rule(
  z.string(),
  (v) => DOMAIN.test(v.startsWith('*.') ? v.slice(2) : v),
  (v) =>
    `${show(v)} is not a domain (example.com, or *.example.com for its subdomains only; ASCII, no "@", no trailing dot)`,
);
// Claims are text (Easy Auth's list); a number or boolean in the config is compared as its JSON text.
const claimValue = (v: unknown): v is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof v);
const claimValues = z
  .unknown()
  .superRefine((v, ctx) => {
    if (!(claimValue(v) || (Array.isArray(v) && v.length > 0 && v.every(claimValue))))
      ctx.addIssue({
        code: 'custom',
        message: `${show(v)} is not a claim value: a string, number or boolean, or a non-empty list of them`,
      });
  })
  .transform((v) =>
    (Array.isArray(v) ? v : [v]).map((item) => (typeof item === 'string' ? item : JSON.stringify(item))),
  );

export interface ConditionConfig {
  readonly emails?: readonly string[];
  readonly emailDomains?: readonly string[];
  readonly groups?: readonly string[];
  readonly roles?: readonly string[];
  readonly providers?: readonly string[];
  readonly accounts?: readonly string[];
  /** Claim name to the values that match, as text. */
  readonly claims?: Readonly<Record<string, readonly string[]>>;
  /** Client ids of the applications calling with a provider's bearer token (apps[].acceptProviderTokens). */
  readonly applications?: readonly string[];
  readonly authenticated?: true;
  readonly all?: readonly ConditionConfig[];
}
const condition: z.ZodType<ConditionConfig, unknown> = z
  .strictObject({
    emails: values(emailAddress).optional(),
    emailDomains: values(emailDomain).optional(),
    groups: values(text).optional(),
    roles: values(text).optional(),
    providers: values(id).optional(),
    accounts: values(text).optional(),
    claims: z
      .record(text, claimValues)
      .refine((claims) => Object.keys(claims).length > 0, 'names no claim (give { name: value } or remove it)')
      .optional(),
    applications: values(text).optional(),
    authenticated: rule(
      z.unknown(),
      (v) => v === true,
      () => 'can only be true (every signed-in user); to let no one in, remove the rule',
    )
      .transform(() => true as const)
      .optional(),
    get all() {
      return values(condition).optional();
    },
  })
  .refine(
    (c) => CONDITION_KINDS.some((kind) => c[kind] !== undefined),
    `names no condition: give at least one of ${CONDITION_KINDS.join(', ')}`,
  );

const accessRuleFields = {
  allow: condition.optional(),
  deny: condition.optional(),
  description: text.optional(),
  private: z.boolean().default(false),
};
const oneEffect = (r: { allow?: unknown; deny?: unknown }) => (r.allow === undefined) !== (r.deny === undefined);
const ONE_EFFECT =
  'needs exactly one of allow (who matches gets in) or deny (who matches is refused); split a rule with both in two';
/** Methods are tokens; requests are compared upper-cased (GET and get alike, HEAD is not GET). */
const method = rule(
  z.string(),
  (v) => HTTP_TOKEN.test(v),
  (v) => `${show(v)} is not an HTTP method (e.g. GET, POST, DELETE)`,
);
const accessPath = rule(
  z.string(),
  (v) => v.startsWith('/') && !v.slice(0, v.endsWith('/*') ? -2 : undefined).includes('*') && !/[?#]/.test(v),
  (v) =>
    `${show(v)} is not a path pattern: /path (that path) or /path/* (it and everything below it), no other "*", no query`,
);
// Step-up (src/access/step-up.ts): what an allowed user's sign-in must have proved.
const signInRequirement = z
  .strictObject({
    mfa: z.boolean().default(false),
    maxAge: duration
      .refine((ms) => ms >= 60_000, 'must be at least 1m: a shorter one would ask for a new sign-in at every page')
      .optional(),
  })
  .refine((r) => r.mfa || r.maxAge !== undefined, 'names no requirement: give mfa: true, maxAge, or both');
const appAccessRule = z
  .strictObject({
    paths: values(accessPath).optional(),
    methods: values(method).optional(),
    require: signInRequirement.optional(),
    ...accessRuleFields,
  })
  .refine(oneEffect, ONE_EFFECT)
  .refine((r) => r.require === undefined || r.allow !== undefined, {
    message: 'applies to allow rules only: it says what the sign-in of a user the rule lets in must have proved',
    path: ['require'],
  });
/** `paths` and `methods` where a rule decides who, not what: an OpenID client's sign-in, the admin console. */
const notFor = (owner: string, field: string) =>
  rule(
    z.unknown(),
    (v) => v === undefined,
    () => `does not apply to ${owner}: remove ${field}`,
  )
    .transform((): undefined => undefined)
    .optional();
const whoOnlyRule = (owner: string) =>
  z
    .strictObject({ paths: notFor(owner, 'paths'), methods: notFor(owner, 'methods'), ...accessRuleFields })
    .refine(oneEffect, ONE_EFFECT);
const clientAccessRule = whoOnlyRule('an OpenID client (it asks for a sign-in, not for a path)');
const accessRules = <T extends z.ZodType>(rule: T) =>
  z.array(rule).min(1, 'lets no one in: remove it to let every signed-in user in, or add rules').optional();

// Easy Auth v2's spelling: object ids of the groups and users (Entra ID's `groups` and `oid`) let in.
const defaultAuthorizationPolicy = z.strictObject({
  allowedPrincipals: z
    .strictObject({ groups: values(text).optional(), identities: values(text).optional() })
    .refine(
      (p) => p.groups !== undefined || p.identities !== undefined,
      'lets no one in: list groups, identities or both (object ids), or remove defaultAuthorizationPolicy',
    ),
});

export const UNAUTHENTICATED_ACTIONS = ['RedirectToLoginPage', 'AllowAnonymous', 'Return401', 'Return403'] as const;
// Access tokens of an identity provider the app's callers may present as `Authorization: Bearer`
// (Easy Auth's allowedAudiences; src/session/provider-bearer.ts verifies them).
const acceptProviderTokens = z.strictObject({
  provider: id,
  audiences: z
    .array(text)
    .min(1, "is empty: list the audiences (aud) of the provider's access tokens for this app, e.g. [api://orders]"),
  allowedApplications: z
    .array(text)
    .min(1, 'is empty: it lets no application in (list client ids, or remove it to let any in)')
    .optional(),
});

// proxy: SignOnce carries the app's requests to `upstream`; forwardAuth: a proxy of the operator's
// carries them and asks SignOnce's /.auth/verify (docs/forward-auth.md).
export const APP_MODES = ['proxy', 'forwardAuth'] as const;

/** A scope name (RFC 6749 section 3.3: printable ASCII but space, `"` and `\\`). */
const scopeToken = rule(
  z.string(),
  (v) => /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/.test(v),
  (v) => `${show(v)} is not a scope name (printable ASCII without spaces, quotes or backslashes, e.g. orders.read)`,
);

const appFields = z.strictObject({
  id,
  hosts: z.array(host).min(1, 'needs at least one host (e.g. [app1.example.com])'),
  // Absent mode: proxy with an upstream, forwardAuth without. A forwardAuth app's upstream is only
  // written into the proxy configuration `signonce snippet` prints.
  mode: z.enum(APP_MODES).optional(),
  upstream: httpUrl.optional(),
  unauthenticatedAction: z.enum(UNAUTHENTICATED_ACTIONS).default('RedirectToLoginPage'),
  defaultProvider: z.string().optional(),
  excludedPaths: z
    .array(
      rule(
        z.string(),
        (v) => v.startsWith('/'),
        (v) => `${show(v)} is not a path (it starts with "/")`,
      ),
    )
    .default([]),
  tokenStore: z.boolean().default(false),
  access: accessRules(appAccessRule),
  defaultAuthorizationPolicy: defaultAuthorizationPolicy.optional(),
  // Which providers the app's sign-in page offers; absent: every provider.
  providers: z.array(id).min(1, 'offers no provider: remove it to offer every provider, or list some').optional(),
  allowedExternalRedirectUrls: z.array(absoluteUrl).default([]),
  exposeRefreshTokens: z.boolean().default(false),
  upstreamTimeout: duration.prefault('30s'),
  acceptTokensFrom: z.array(id).default([]),
  // The scopes access tokens for this app may carry (RFC 9068 section 2.2.3), asked for by clients.
  scopes: z.array(scopeToken).default([]),
  acceptProviderTokens: z.array(acceptProviderTokens).default([]),
  sso: z.boolean().default(true),
  providerLogout: z.boolean().default(false),
  resources: z.array(appResource).default([]),
  // Legacy: tokens of this app signed HS256 with its own secret, for backends that only check an HMAC.
  tokenSigning: z
    .strictObject({
      alg: z.literal('HS256'),
      secret: rule(
        z.string(),
        (v) => new TextEncoder().encode(v).length >= 32,
        () =>
          'must be at least 32 bytes (RFC 7518 section 3.2: an HS256 key as long as its hash); generate one with `signonce keys generate`',
      ),
    })
    .optional(),
});
const app = appFields.transform((fields, ctx) => {
  const mode = fields.mode ?? (fields.upstream === undefined ? 'forwardAuth' : 'proxy');
  if (mode === 'proxy' && fields.upstream === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['upstream'],
      message:
        'is required in proxy mode: the address SignOnce proxies the app to (e.g. http://127.0.0.1:3000), or mode: forwardAuth when a proxy of yours carries its requests',
    });
  return { ...fields, mode };
});

/** Signature algorithms an external issuer may use: asymmetric only (never `none`, never an HMAC a public key could key). */
export const EXTERNAL_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

// An issuer of identity tokens minted elsewhere (a mail add-in's, a partner's), matched to local users.
const externalIssuer = z
  .strictObject({
    id,
    issuer: text,
    jwksUrl: httpUrl.optional(),
    metadataUrl: httpUrl.optional(),
    audience: text,
    subjectClaim: text.default('sub'),
    algorithms: z
      .array(z.enum(EXTERNAL_ALGORITHMS))
      .min(1)
      .default([...EXTERNAL_ALGORITHMS]),
  })
  .refine(
    (e) => (e.jwksUrl === undefined) !== (e.metadataUrl === undefined),
    "needs exactly one of jwksUrl (the issuer's JWK Set) or metadataUrl (its OpenID/OAuth metadata, which names the JWK Set)",
  );

// An OpenID Connect client of SignOnce's OpenID Provider (src/openid-provider).
export const CLIENT_SCOPES = ['openid', 'profile', 'email', 'offline_access', 'provider_tokens'] as const;
const redirectUri = rule(
  z.string(),
  (v) => redirectUriProblem(v) === undefined,
  (v) => `${show(v)} ${redirectUriProblem(v)}`,
);
/**
 * What a client may ask the token endpoint for: `authorization_code` (users signing in; refresh
 * tokens too with offline_access), `client_credentials` (a service acting as itself, RFC 6749
 * section 4.4), `token_exchange` (a service acting on behalf of a user, RFC 8693).
 */
export const CLIENT_GRANTS = ['authorization_code', 'client_credentials', 'token_exchange'] as const;
/** The public keys of a private_key_jwt client (a JWK Set, RFC 7517 section 5): never a private or symmetric key. */
const clientJwks = z.strictObject({
  keys: z
    .array(
      rule(
        z.looseObject({ kty: z.enum(['RSA', 'EC', 'OKP']) }),
        (key) => !('d' in key) && !('k' in key),
        () => 'is a private key: give only the public part (without "d"); the client keeps the private key',
      ),
    )
    .min(1, 'has no keys: list the public keys the client signs its assertions with'),
});
const oidcClient = z
  .strictObject({
    id: rule(
      z.string(),
      (v) => /^[A-Za-z0-9._-]{1,128}$/.test(v),
      (v) => `${show(v)} is not a client id (letters, digits, ".", "_" and "-", at most 128)`,
    ),
    secret: rule(
      z.string(),
      (v) => new TextEncoder().encode(v).length >= 32,
      () => 'must be at least 32 bytes; generate one with `signonce keys generate`',
    ).optional(),
    public: z.boolean().default(false),
    // private_key_jwt (RFC 7523 section 2.2): the client proves itself with a JWT signed by its key.
    jwks: clientJwks.optional(),
    jwksUrl: httpUrl.optional(),
    grants: z
      .array(z.enum(CLIENT_GRANTS))
      .min(1, `names no grant: list some of ${CLIENT_GRANTS.join(', ')}, or remove it`)
      .default(['authorization_code']),
    // The apps (ids) the client may get access tokens for (RFC 8707 resource indicators).
    resources: z.array(id).default([]),
    redirectUris: z.array(redirectUri).default([]),
    postLogoutRedirectUris: z.array(redirectUri).default([]),
    backchannelLogoutUri: redirectUri.optional(),
    scopes: z.array(z.enum(CLIENT_SCOPES)).default(['openid', 'profile', 'email', 'offline_access']),
    subjectType: z.enum(['public', 'pairwise']).default('public'),
    firstParty: z.boolean().default(true),
    access: accessRules(clientAccessRule),
  })
  .superRefine((c, ctx) => {
    const proofs = [c.public, c.secret !== undefined, c.jwks !== undefined || c.jwksUrl !== undefined];
    if (proofs.filter(Boolean).length !== 1 || (c.jwks !== undefined && c.jwksUrl !== undefined))
      ctx.addIssue({
        code: 'custom',
        message:
          'needs exactly one of secret, jwks or jwksUrl (private_key_jwt: its public keys), or public: true for a client that cannot keep a secret (a browser or native app; PKCE protects its codes)',
      });
    if (c.grants.includes('authorization_code') && c.redirectUris.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['redirectUris'],
        message: 'needs at least one redirect URI (or grants without authorization_code for a service client)',
      });
    if (c.public && c.grants.some((grant) => grant !== 'authorization_code'))
      ctx.addIssue({
        code: 'custom',
        path: ['grants'],
        message:
          'client_credentials and token_exchange need a client that proves itself (a secret, jwks or jwksUrl), never a public one',
      });
  });

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

export const configSchema = z.strictObject({
  publicUrl,
  listen: z
    .strictObject({
      host: text.default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
    })
    .prefault({}),
  store: store.default('sqlite:./.signonce/signonce.db'),
  secrets: z.strictObject({
    encryptionKeys: z
      .array(encryptionKey)
      .min(1, 'needs at least one key (generate one with `signonce keys generate`)'),
  }),
  session: z
    .strictObject({
      cookieName: cookieName.default('AppServiceAuthSession'),
      lifetime: duration.prefault('8h'),
      cacheTtl: duration
        .prefault('1s')
        .refine(
          (ms) => ms <= 60_000,
          'must be at most 60s: the longest an instance may serve a change it was not told of (several processes on one SQLite file; PostgreSQL tells at once)',
        ),
      tokenRefreshExtensionHours: z.number().min(0).default(72),
      // A session unused for longer ends (sliding); 0: never. Last uses reach the store at most once
      // a minute per instance (src/session/last-seen.ts), so shorter timeouts would end sessions
      // in use on another instance.
      idleTimeout: duration
        .prefault('0')
        .refine(
          (ms) => ms === 0 || ms >= 300_000,
          'must be 0 (off) or at least 5m: when a session was last used reaches the store at most once a minute per instance, so a shorter timeout could end a session in use on another instance',
        ),
    })
    .prefault({}),
  tokenStore: z.strictObject({ keepOnLogout: z.boolean().default(false) }).prefault({}),
  // Expired rows are deleted every `interval` (0: never, e.g. when another process does it).
  housekeeping: z.strictObject({ interval: duration.prefault('10m') }).prefault({}),
  // Audit events older than `retention` are deleted by housekeeping. No "off": an audit log that
  // keeps less than a day cannot answer for yesterday, so a day is the least.
  audit: z
    .strictObject({
      retention: duration
        .prefault('90d')
        .refine((ms) => ms >= 86_400_000, 'must be at least 1d: the audit log keeps events a day or longer'),
    })
    .prefault({}),
  // The admin console (/.auth/admin): off unless `access` lists rules, which decide who may
  // administer (default deny). Every admin page and action needs a sign-in younger than
  // `freshSignIn` (OpenID Connect Core 1.0 section 3.1.2.1, max_age); at most session.lifetime
  // (checks.ts), since no session is older.
  admin: z
    .strictObject({
      access: z.array(whoOnlyRule('the admin console (it decides who administers, on every admin page)')).default([]),
      freshSignIn: duration
        .prefault('10m')
        .refine(
          (ms) => ms >= 60_000,
          'must be at least 1m: a shorter one would ask for a new sign-in between the pages of one admin task',
        ),
    })
    .prefault({}),
  // Passkeys of local accounts: the relying-party id they are bound to for good (WebAuthn L3
  // section 5.1.3): the auth host's name by default, or a parent domain of it (checks.ts).
  passkeys: z.strictObject({ rpId: text.optional() }).prefault({}),
  // Off unless providers are listed: a new identity joins the account whose identity (of a listed
  // provider) has the same e-mail, when both providers assert email_verified.
  accounts: z.strictObject({ linkByVerifiedEmail: z.array(id).default([]) }).prefault({}),
  // Memberships read from providers: read again once older than refreshAfter (in the background
  // while younger than maxAge); older than maxAge and unreadable, rules on groups and roles refuse.
  groups: z
    .strictObject({ refreshAfter: duration.prefault('10m'), maxAge: duration.prefault('1h') })
    .refine((g) => g.refreshAfter <= g.maxAge, {
      message: 'must not be longer than maxAge (memberships older than maxAge are not used)',
      path: ['refreshAfter'],
    })
    .prefault({}),
  providers: z.array(z.discriminatedUnion('type', PROVIDER_SCHEMAS)).default([]),
  apps: z.array(app).default([]),
  externalIssuers: z.array(externalIssuer).default([]),
  clients: z.array(oidcClient).default([]),
  trustedProxies: z.array(proxyAddress).default([]),
  // What one client may ask of an instance (see README, Limits).
  limits: z
    .strictObject({
      maxHeaderBytes: z.number().int().min(1024).max(1_048_576).default(16_384),
      headersTimeout: duration.prefault('10s').refine((ms) => ms >= 1000, 'must be at least 1s'),
      requestTimeout: duration.prefault('60s').refine((ms) => ms >= 1000, 'must be at least 1s'),
    })
    .refine((l) => l.headersTimeout <= l.requestTimeout, {
      message: 'must not be longer than requestTimeout (the headers are part of the request)',
      path: ['headersTimeout'],
    })
    .prefault({}),
  rateLimits: z
    .strictObject({
      signIn: z.strictObject({ perAddress: rateLimit.prefault({ limit: 300, window: '1m' }) }).prefault({}),
      refresh: z
        .strictObject({
          // Callers per account: only a flood guard (callers served by one refresh cost the provider
          // nothing), far above a person's tabs and services refreshing at once (README, rateLimits).
          perAccount: rateLimit.prefault({ limit: 600, window: '1m' }),
          perAddress: rateLimit.prefault({ limit: 600, window: '1m' }),
          // Refresh grants asked of a provider per (account, provider, resource): what it pays for.
          providerGrants: rateLimit.prefault({ limit: 6, window: '1m' }),
        })
        .prefault({}),
    })
    .prefault({}),
  metrics: z.strictObject({ allowFrom: z.array(proxyAddress).default(['127.0.0.1', '::1']) }).prefault({}),
  devMode: z.boolean().default(false),
  log: z.strictObject({ level: z.enum(LOG_LEVELS).default('info') }).prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type ProviderConfig = Config['providers'][number];
export type AppConfig = Config['apps'][number];
export type AppResource = AppConfig['resources'][number];
export type AcceptProviderTokensConfig = AppConfig['acceptProviderTokens'][number];
export type ExternalIssuerConfig = Config['externalIssuers'][number];
export type OidcClientConfig = Config['clients'][number];
export type AccessRuleConfig = NonNullable<AppConfig['access'] | OidcClientConfig['access']>[number];
export type DefaultAuthorizationPolicyConfig = NonNullable<AppConfig['defaultAuthorizationPolicy']>;
