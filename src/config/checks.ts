// Rules between fields. They read the raw (substituted) file defensively, so they report even
// when other parts of the file are broken: every problem at once.
import { parseDuration } from './duration.ts';
import { formatPath, type Problem } from './problems.ts';
import { relyingPartyIdProblem } from './relying-party.ts';
import { ID_PATTERN, OIDC_PROVIDER_TYPES, REFRESHING_PROVIDER_TYPES, show } from './schema.ts';

type Raw = Record<string, unknown>;

const isObject = (value: unknown): value is Raw => value !== null && typeof value === 'object' && !Array.isArray(value);
const objects = (value: unknown): Array<[number, Raw]> =>
  Array.isArray(value) ? value.flatMap((item, i): Array<[number, Raw]> => (isObject(item) ? [[i, item]] : [])) : [];

/** The forms of the auth host a browser may send as Host: with and without its default port. */
function authHosts(publicUrl: unknown): Set<string> {
  if (typeof publicUrl !== 'string' || !URL.canParse(publicUrl)) return new Set();
  const url = new URL(publicUrl);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return new Set([url.host.toLowerCase(), `${url.hostname.toLowerCase()}:${port}`]);
}

/** Reports `key` values that repeat among `items`, naming where each was first used. */
function duplicateIds(section: string, items: Array<[number, Raw]>, problems: Problem[]): void {
  const seen = new Map<string, number>();
  for (const [i, item] of items) {
    if (typeof item.id !== 'string') continue;
    const first = seen.get(item.id);
    if (first === undefined) seen.set(item.id, i);
    else
      problems.push({
        path: formatPath([section, i, 'id']),
        message: `${show(item.id)} is already the id of ${section}[${first}]`,
      });
  }
}

/**
 * The ids of the providers of these types. A type may be any value here (the schema reports it):
 * never String() it, `{ toString: 1 }` throws.
 */
const idsOfTypes = (providers: Array<[number, Raw]>, types: readonly string[]) =>
  providers.filter(([, p]) => typeof p.type === 'string' && types.includes(p.type)).map(([, p]) => p.id);
/** A provider's type as a message names it. */
const typeName = (provider: Raw) => (typeof provider.type === 'string' ? provider.type : show(provider.type));

/** An app's resources: each alias once, each from a provider SignOnce refreshes tokens of. */
function resourceProblems(
  appIndex: number,
  resources: Array<[number, Raw]>,
  providers: Array<[number, Raw]>,
  problems: Problem[],
): void {
  const aliases = new Map<unknown, number>();
  const refreshing = idsOfTypes(providers, REFRESHING_PROVIDER_TYPES);
  for (const [j, resource] of resources) {
    const path = (field: string) => formatPath(['apps', appIndex, 'resources', j, field]);
    const first = aliases.get(resource.alias);
    if (first !== undefined)
      problems.push({
        path: path('alias'),
        message: `${show(resource.alias)} is already the alias of resources[${first}]`,
      });
    else aliases.set(resource.alias, j);
    if (
      typeof resource.provider !== 'string' ||
      !ID_PATTERN.test(resource.provider) ||
      refreshing.includes(resource.provider)
    )
      continue;
    const known = providers.find(([, p]) => p.id === resource.provider);
    problems.push({
      path: path('provider'),
      message: known
        ? `${show(resource.provider)} is a ${typeName(known[1])} provider: its tokens cannot be refreshed, so it gets no tokens for other resources (use an oidc or oauth2 provider)`
        : `no provider ${show(resource.provider)} (known: ${
            providers
              .map(([, p]) => p.id)
              .filter((id) => typeof id === 'string')
              .join(', ') || 'none'
          })`,
    });
  }
}

/**
 * An app's acceptProviderTokens: each names an OpenID Connect provider of this config (its issuer
 * and keys verify the tokens), once.
 */
function providerTokenProblems(
  appIndex: number,
  entries: Array<[number, Raw]>,
  providers: Array<[number, Raw]>,
  problems: Problem[],
): void {
  const known = idsOfTypes(providers, OIDC_PROVIDER_TYPES).filter((id) => typeof id === 'string');
  const listed = new Map<unknown, number>();
  for (const [j, entry] of entries) {
    if (typeof entry.provider !== 'string' || !ID_PATTERN.test(entry.provider)) continue;
    const path = formatPath(['apps', appIndex, 'acceptProviderTokens', j, 'provider']);
    const first = listed.get(entry.provider);
    if (first !== undefined) {
      problems.push({
        path,
        message: `${show(entry.provider)} is already listed at acceptProviderTokens[${first}]: put its audiences and applications there`,
      });
      continue;
    }
    listed.set(entry.provider, j);
    if (known.includes(entry.provider)) continue;
    const other = providers.find(([, p]) => p.id === entry.provider)?.[1];
    problems.push({
      path,
      message: `${
        other
          ? `${show(entry.provider)} is a ${typeName(other)} provider, whose access tokens SignOnce cannot verify`
          : `no provider ${show(entry.provider)}`
      }: name an OpenID Connect provider (type oidc, aad, microsoftaccount or google; known: ${known.join(', ') || 'none'})`,
    });
  }
}

/** Providers named in access conditions (`providers: [...]`, at any depth of `all`) that do not exist. */
function conditionProviderProblems(
  path: PropertyKey[],
  condition: unknown,
  providerIds: readonly string[],
  problems: Problem[],
): void {
  if (!isObject(condition)) return;
  for (const [j, listed] of (Array.isArray(condition.providers) ? condition.providers : []).entries()) {
    if (typeof listed === 'string' && ID_PATTERN.test(listed) && !providerIds.includes(listed))
      problems.push({
        path: formatPath([...path, 'providers', j]),
        message: `no provider ${show(listed)} (known: ${providerIds.join(', ') || 'none'})`,
      });
  }
  for (const [j, part] of (Array.isArray(condition.all) ? condition.all : []).entries())
    conditionProviderProblems([...path, 'all', j], part, providerIds, problems);
}

/** An app's or client's access rules: providers they name exist; one spelling of the policy. */
function accessProblems(path: PropertyKey[], owner: Raw, providerIds: readonly string[], problems: Problem[]): void {
  for (const [j, accessRule] of objects(owner.access))
    for (const effect of ['allow', 'deny'])
      conditionProviderProblems([...path, 'access', j, effect], accessRule[effect], providerIds, problems);
  if (owner.access !== undefined && owner.defaultAuthorizationPolicy !== undefined)
    problems.push({
      path: formatPath(path),
      message:
        'has both access and defaultAuthorizationPolicy: keep one (access says the same as allow: { groups: [...], claims: { oid: [...] } })',
    });
}

/** Entries of the list at `path` that are well-formed ids of no `kind` (`app`, `provider`) of the file, named with the known ones. */
function unknownIdProblems(
  path: PropertyKey[],
  list: unknown,
  known: readonly string[],
  kind: string,
  problems: Problem[],
): void {
  // A malformed id is reported by the schema already.
  for (const [j, listed] of (Array.isArray(list) ? list : []).entries())
    if (typeof listed === 'string' && ID_PATTERN.test(listed) && !known.includes(listed))
      problems.push({
        path: formatPath([...path, j]),
        message: `no ${kind} ${show(listed)} (known: ${known.join(', ') || 'none'})`,
      });
}

/** The apps a client may get access tokens for exist, and a client with a grant that gives app tokens names some. */
function clientResourceProblems(i: number, client: Raw, appIds: readonly string[], problems: Problem[]): void {
  const resources = Array.isArray(client.resources) ? client.resources : [];
  unknownIdProblems(['clients', i, 'resources'], resources, appIds, 'app', problems);
  const appGrants = (Array.isArray(client.grants) ? client.grants : []).filter(
    (grant) => grant === 'client_credentials' || grant === 'token_exchange',
  );
  if (appGrants.length > 0 && resources.length === 0)
    problems.push({
      path: formatPath(['clients', i, 'resources']),
      message: `is empty, but the client's grants (${appGrants.join(', ')}) give access tokens only for the apps listed here: list their ids`,
    });
}

export function crossFieldProblems(raw: Raw): Problem[] {
  const problems: Problem[] = [];
  const providers = objects(raw.providers);
  const apps = objects(raw.apps);
  duplicateIds('providers', providers, problems);
  duplicateIds('apps', apps, problems);
  duplicateIds('externalIssuers', objects(raw.externalIssuers), problems);
  duplicateIds('clients', objects(raw.clients), problems);

  for (const [i, provider] of providers) {
    if (provider.type === 'dev' && raw.devMode !== true) {
      problems.push({
        path: formatPath(['providers', i, 'type']),
        message: '"dev" trusts whatever is typed and is refused unless devMode: true',
      });
    }
    if (provider.trustEmail === true && (provider.type === 'dev' || provider.type === 'password'))
      problems.push({
        path: formatPath(['providers', i, 'trustEmail']),
        message:
          provider.type === 'dev'
            ? '"dev" trusts whatever is typed: an e-mail it reports proves nothing'
            : 'password accounts carry no e-mail claim: remove trustEmail',
      });
  }

  const providerIds = [...new Set(providers.map(([, p]) => p.id).filter((id): id is string => typeof id === 'string'))];
  const accounts = isObject(raw.accounts) ? raw.accounts : {};
  for (const [i, listed] of (Array.isArray(accounts.linkByVerifiedEmail)
    ? accounts.linkByVerifiedEmail
    : []
  ).entries()) {
    if (typeof listed !== 'string' || !ID_PATTERN.test(listed)) continue;
    const path = formatPath(['accounts', 'linkByVerifiedEmail', i]);
    const type = providers.find(([, p]) => p.id === listed)?.[1].type;
    if (type === undefined)
      problems.push({ path, message: `no provider ${show(listed)} (known: ${providerIds.join(', ') || 'none'})` });
    else if (type === 'dev')
      problems.push({ path, message: '"dev" trusts whatever is typed: an e-mail it reports proves nothing' });
  }
  // Browsers accept a __Host- cookie only with Secure, which SignOnce sets when publicUrl is https.
  const session = isObject(raw.session) ? raw.session : {};
  if (
    typeof session.cookieName === 'string' &&
    /^__(Host|Secure)-/i.test(session.cookieName) &&
    typeof raw.publicUrl === 'string' &&
    URL.canParse(raw.publicUrl) &&
    new URL(raw.publicUrl).protocol !== 'https:'
  ) {
    problems.push({
      path: 'session.cookieName',
      message: `${show(session.cookieName)}: browsers refuse a cookie with this prefix unless it is Secure, which needs an https publicUrl`,
    });
  }
  const authHost = authHosts(raw.publicUrl);
  const appIds = apps.map(([, a]) => a.id).filter((appId): appId is string => typeof appId === 'string');
  const hostOwners = new Map<string, number>();
  for (const [i, app] of apps) {
    for (const [j, host] of (Array.isArray(app.hosts) ? app.hosts : []).entries()) {
      if (typeof host !== 'string') continue;
      const key = host.toLowerCase();
      const path = formatPath(['apps', i, 'hosts', j]);
      const owner = hostOwners.get(key);
      if (authHost.has(key)) {
        problems.push({ path, message: `${show(host)} is the auth host (publicUrl); give the app a host of its own` });
      } else if (owner !== undefined) {
        problems.push({
          path,
          message: `${show(host)} is already a host of apps[${owner}]; each host routes to one app`,
        });
      } else {
        hostOwners.set(key, i);
      }
    }
    if (typeof app.defaultProvider === 'string' && !providerIds.includes(app.defaultProvider)) {
      const known = providerIds.length ? `known: ${providerIds.join(', ')}` : 'no providers are configured';
      problems.push({
        path: formatPath(['apps', i, 'defaultProvider']),
        message: `no provider ${show(app.defaultProvider)} (${known})`,
      });
    }
    const offered = Array.isArray(app.providers) ? app.providers : [];
    unknownIdProblems(['apps', i, 'providers'], offered, providerIds, 'provider', problems);
    if (
      typeof app.defaultProvider === 'string' &&
      providerIds.includes(app.defaultProvider) &&
      offered.length > 0 &&
      !offered.includes(app.defaultProvider)
    )
      problems.push({
        path: formatPath(['apps', i, 'defaultProvider']),
        message: `${show(app.defaultProvider)} is not one of the app's providers (${offered.filter((p) => typeof p === 'string').join(', ')}): add it there, or choose one of them`,
      });
    accessProblems(['apps', i], app, providerIds, problems);
    unknownIdProblems(['apps', i, 'acceptTokensFrom'], app.acceptTokensFrom, appIds, 'app', problems);
    resourceProblems(i, objects(app.resources), providers, problems);
    providerTokenProblems(i, objects(app.acceptProviderTokens), providers, problems);
    if (app.exposeRefreshTokens === true && app.tokenStore !== true) {
      problems.push({
        path: formatPath(['apps', i, 'exposeRefreshTokens']),
        message: 'needs tokenStore: true (without the token store there are no tokens to expose)',
      });
    }
  }
  // /.auth/verify believes the original request only from a trusted proxy (endpoints/forward-auth.ts).
  const forwardAuth = apps.find(
    ([, a]) => a.mode === 'forwardAuth' || (a.mode === undefined && a.upstream === undefined),
  );
  if (forwardAuth && (!Array.isArray(raw.trustedProxies) || raw.trustedProxies.length === 0))
    problems.push({
      path: 'trustedProxies',
      message: `is empty, but apps[${forwardAuth[0]}] is a forward-auth app: list the address of the proxy that asks /.auth/verify (e.g. [127.0.0.1]); SignOnce answers no one else`,
    });
  for (const [i, client] of objects(raw.clients)) {
    accessProblems(['clients', i], client, providerIds, problems);
    clientResourceProblems(i, client, appIds, problems);
  }
  adminProblems(raw, providerIds, problems);
  const rpId = isObject(raw.passkeys) ? raw.passkeys.rpId : undefined;
  if (typeof rpId === 'string' && typeof raw.publicUrl === 'string' && URL.canParse(raw.publicUrl)) {
    const problem = relyingPartyIdProblem(rpId, new URL(raw.publicUrl).hostname);
    if (problem) problems.push({ path: 'passkeys.rpId', message: problem });
  }
  return problems;
}

/**
 * The admin console's rules name known providers; its fresh sign-in, when written or when the
 * console is on, fits in a session's lifetime (a short lifetime alone, with the console off, is fine).
 */
function adminProblems(raw: Raw, providerIds: readonly string[], problems: Problem[]): void {
  if (!isObject(raw.admin)) return;
  accessProblems(['admin'], raw.admin, providerIds, problems);
  const on = Array.isArray(raw.admin.access) && raw.admin.access.length > 0;
  if (!on && raw.admin.freshSignIn === undefined) return;
  const session = isObject(raw.session) ? raw.session : {};
  // Malformed durations are reported by the schema.
  const durationOf = (value: unknown, otherwise: string) =>
    value === undefined
      ? parseDuration(otherwise)
      : typeof value === 'string' || typeof value === 'number'
        ? parseDuration(value)
        : undefined;
  const freshSignIn = durationOf(raw.admin.freshSignIn, '10m');
  const lifetime = durationOf(session.lifetime, '8h');
  if (freshSignIn !== undefined && lifetime !== undefined && freshSignIn > lifetime)
    problems.push({
      path: 'admin.freshSignIn',
      message: `must not be longer than session.lifetime (${show(session.lifetime ?? '8h')}): no session is older, so it would ask nothing`,
    });
}
