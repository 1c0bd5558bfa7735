// Groups and roles as providers tell them (README, "Groups from providers"): the ID token's
// `groups` and `roles` claims, Entra ID's group overage resolved through Microsoft Graph, and
// GitHub-style lists of organisations and teams. Each list is read page by page with the user's
// access token, and a next page is followed only on the origin the list was asked of: a bearer
// token is never sent anywhere else (RFC 6750 section 5.3: tokens go to the resource server only).
import { decodeJwt } from 'jose';
import type { GroupsAndRoles, ProviderTokens } from '../store/index.ts';
import { TIMEOUT_SECONDS, classify } from './oauth-common.ts';
import { ProviderError } from './types.ts';

/** More pages than any real membership list has (100 per page at Graph, 30 at GitHub): a loop. */
const MAX_PAGES = 200;

/** Only the strings of a claim that should be a list of strings. */
const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

/** Where a URL points, for messages: no query (Graph's skip tokens), no credentials. */
const shown = (url: URL) => `${url.origin}${url.pathname}`;

/**
 * Every item of a paged JSON list at `first`, asked with the bearer `accessToken`; `next` names
 * the following page from an answer. A next page on another origin is refused (ProviderError), not
 * skipped: a list cut short could leave out a group a deny rule names.
 */
async function readPages(
  first: URL,
  accessToken: string,
  accept: string,
  next: (response: Response, body: unknown) => { items: unknown[]; next: string | undefined },
): Promise<unknown[]> {
  const items: unknown[] = [];
  let url: URL | undefined = first;
  for (let page = 0; url; page++) {
    if (page === MAX_PAGES)
      throw new ProviderError('invalid-response', `${shown(first)} has more than ${MAX_PAGES} pages`);
    if (url.origin !== first.origin)
      throw new ProviderError(
        'invalid-response',
        `${shown(first)} named a next page on another origin (${url.origin}): not followed, the access token goes only to ${first.origin}`,
      );
    let response: Response;
    let body: unknown;
    try {
      response = await fetch(url, {
        headers: { authorization: `Bearer ${accessToken}`, accept, 'user-agent': 'SignOnce' },
        redirect: 'error',
        signal: AbortSignal.timeout(TIMEOUT_SECONDS * 1000),
      });
      body = await response.json().catch(() => undefined);
    } catch (error) {
      throw classify(error);
    }
    if (!response.ok)
      throw new ProviderError(
        response.status === 401 ? 'denied' : 'invalid-response',
        `${shown(url)} answered ${response.status}`,
      );
    const answer = next(response, body);
    items.push(...answer.items);
    if (answer.next !== undefined && !URL.canParse(answer.next, url.href))
      throw new ProviderError('invalid-response', `${shown(first)} named a next page that is no URL`);
    url = answer.next === undefined ? undefined : new URL(answer.next, url);
  }
  return items;
}

const OVERAGE_HINT = 'the ID token says the user is in more groups than it lists (Entra ID group overage)';

/**
 * The groups and roles of the user an OpenID Connect provider's ID token describes. The ID token
 * was verified when SignOnce received it (signature, issuer, audience) and has been sealed in the
 * store since, so its payload is only decoded here. On Entra ID group overage (`_claim_names.groups`,
 * or `hasgroups: true` in implicit flows) the groups are read from Microsoft Graph at `graphUrl`
 * with the access token: object ids, lower-cased as Entra ID writes them in tokens.
 */
export async function oidcGroups(tokens: ProviderTokens, graphUrl: string | undefined): Promise<GroupsAndRoles> {
  if (!tokens.idToken) throw new ProviderError('invalid-response', 'no ID token is stored to read groups from');
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(tokens.idToken);
  } catch (error) {
    throw new ProviderError('invalid-response', 'the stored ID token cannot be read', { cause: error });
  }
  const roles = strings(claims.roles);
  const claimNames = claims._claim_names;
  const overage =
    (typeof claimNames === 'object' && claimNames !== null && 'groups' in claimNames) ||
    claims.hasgroups === true ||
    claims.hasgroups === 'true';
  if (!overage) return { groups: strings(claims.groups), roles };
  if (!graphUrl)
    throw new ProviderError('invalid-response', `${OVERAGE_HINT}, and no graphUrl is configured to read them`);
  if (!tokens.accessToken)
    throw new ProviderError('invalid-response', `${OVERAGE_HINT}, and no access token is stored to read them`);
  const first = new URL(`${graphUrl.replace(/\/+$/, '')}/v1.0/me/transitiveMemberOf/microsoft.graph.group?$select=id`);
  const items = await readPages(first, tokens.accessToken, 'application/json', (_response, body) => {
    const page = (body ?? {}) as { value?: unknown; '@odata.nextLink'?: unknown };
    if (!Array.isArray(page.value))
      throw new ProviderError('invalid-response', `${shown(first)} did not answer a list of groups`);
    const nextLink = page['@odata.nextLink'];
    return { items: page.value, next: typeof nextLink === 'string' ? nextLink : undefined };
  });
  const ids = items.map((item) => (item as { id?: unknown }).id).filter((id): id is string => typeof id === 'string');
  return { groups: [...new Set([...strings(claims.groups), ...ids].map((id) => id.toLowerCase()))], roles };
}

/** The URL of the link whose relation types include `next` in an RFC 8288 Link header (GitHub's paging). */
export function nextLink(header: string | null): string | undefined {
  for (const link of header?.split(',') ?? []) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(link);
    if (!match) continue;
    const rel = match[2]!
      .split(';')
      .map((param) => /^\s*rel\s*=\s*"?([^"]*)"?\s*$/i.exec(param)?.[1])
      .find((value) => value !== undefined);
    // RFC 8288 section 3.3: rel is a space-separated list of relation types, compared case-insensitively.
    if (rel?.toLowerCase().split(/\s+/).includes('next')) return match[1];
  }
  return undefined;
}

/**
 * The user's GitHub organisations (`login`) and teams (`org/slug`), lower-cased (GitHub's names are
 * case-insensitive), from GitHub-style `orgsUrl` and `teamsUrl` with the access token (GitHub
 * lists them only with the `read:org` scope). No roles.
 */
export async function githubGroups(
  tokens: ProviderTokens,
  urls: { orgsUrl?: string | undefined; teamsUrl?: string | undefined },
): Promise<GroupsAndRoles> {
  const accessToken = tokens.accessToken;
  if (!accessToken) throw new ProviderError('invalid-response', 'no access token is stored to read groups with');
  const list = async (url: string | undefined, name: (item: Record<string, unknown>) => unknown) => {
    if (!url) return [];
    const items = await readPages(new URL(url), accessToken, 'application/vnd.github+json', (response, body) => {
      if (!Array.isArray(body)) throw new ProviderError('invalid-response', `${url} did not answer a list`);
      return { items: body, next: nextLink(response.headers.get('link')) };
    });
    return items
      .map((item) => (typeof item === 'object' && item !== null ? name(item as Record<string, unknown>) : undefined))
      .filter((n): n is string => typeof n === 'string' && n !== '')
      .map((n) => n.toLowerCase());
  };
  const orgs = await list(urls.orgsUrl, (org) => org.login);
  const teams = await list(urls.teamsUrl, (team) => {
    const org = (team.organization as { login?: unknown } | undefined)?.login;
    return typeof org === 'string' && org && typeof team.slug === 'string' && team.slug
      ? `${org}/${team.slug}`
      : undefined;
  });
  return { groups: [...new Set([...orgs, ...teams])], roles: [] };
}
