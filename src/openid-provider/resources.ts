// Which SignOnce app a resource indicator (RFC 8707) names. An app is one resource whichever of its hosts names it: the access token's
// `aud` is always the app's id (as in authentication tokens), so one check serves every host.
import type { AppConfig } from '../config/index.ts';

/**
 * The app one of whose URLs `resource` is: `{scheme}//{host}` or `{scheme}//{host}/`, with the
 * scheme of publicUrl (`https:` or `http:`) and a host of the app (any case; the default port may
 * be left out). RFC 8707 section 2: an absolute URI without a fragment; a query, a path, user
 * information or another scheme name no app here. Undefined when no app has that URL.
 */
export function appOfResource(resource: string, apps: readonly AppConfig[], scheme: string): AppConfig | undefined {
  if (!URL.canParse(resource)) return undefined;
  const url = new URL(resource);
  if (url.protocol !== scheme || url.pathname !== '/' || url.search || url.hash || url.username || url.password)
    return undefined;
  // The URL parser writes hosts lower-case and drops a default port, on both sides alike.
  return apps.find((app) => app.hosts.some((host) => new URL(`${scheme}//${host}`).host === url.host));
}
