// The sign-in flows tests and benchmarks go through again and again, in one place.
import * as openid from 'openid-client';
import type { Provider, SignInResult } from '../../src/providers/index.ts';
import { UserAgent, finalUrl, type Response } from './user-agent.ts';

export interface NativeSignIn {
  readonly ua: UserAgent;
  /** The final redirect, to the app's scheme (the browser hands over to the app there). */
  readonly handover: Response;
  readonly authenticationToken: string;
  readonly userId: string;
}

/**
 * A native app's server-directed sign-in with the `dev` provider: from `appOrigin`
 * (e.g. http://app.localhost:8080) to `appScheme` (an allowed myapp://… URL), ending with
 * #token={"authenticationToken","user":{"userId"}}.
 */
export async function nativeDevSignIn(
  appOrigin: string,
  appScheme: string,
  fields: Record<string, string>,
): Promise<NativeSignIn> {
  const ua = new UserAgent();
  const form = await ua.navigate(
    `${appOrigin}/.auth/login/dev?post_login_redirect_uri=${encodeURIComponent(appScheme)}`,
  );
  const handover = await ua.submitForm(finalUrl(form), await form.text(), fields);
  return { ua, handover, ...handedOver(handover) };
}

/** What the final redirect to an app's scheme carries: #token={"authenticationToken","user":{"userId"}}. */
export function handedOver(handover: Response): { authenticationToken: string; userId: string } {
  const hash = new URL(handover.headers.get('location')!).hash;
  const result = JSON.parse(decodeURIComponent(hash.slice('#token='.length))) as {
    authenticationToken: string;
    user: { userId: string };
  };
  return { authenticationToken: result.authenticationToken, userId: result.user.userId };
}

/** Signs `user` in at `appUrl` through oidc-provider's login and consent pages; the page landed on. */
export async function oidcSignIn(
  appUrl: string,
  user: string,
  ua = new UserAgent(),
): Promise<{ ua: UserAgent; landed: Response }> {
  const login = await ua.navigate(appUrl);
  const consent = await ua.submitForm(finalUrl(login), await login.text(), { login: user, password: 'any' });
  return { ua, landed: await ua.submitForm(finalUrl(consent), await consent.text()) };
}

/**
 * Signs in at `appUrl` (an app page, or its /.auth/login/dev…) through the `dev` provider's form:
 * `user` is the user id typed, or every field of the form; the page landed on.
 */
export async function devSignIn(
  appUrl: string,
  user: string | Record<string, string>,
  ua = new UserAgent(),
): Promise<{ ua: UserAgent; landed: Response }> {
  const form = await ua.navigate(appUrl);
  return {
    ua,
    landed: await ua.submitForm(finalUrl(form), await form.text(), typeof user === 'string' ? { user_id: user } : user),
  };
}

/**
 * A native app's own sign-in at an OpenID provider, as the provider's SDK does it with the client
 * registration the app shares with SignOnce (code flow, PKCE, nonce; the browser is held at
 * `redirectUri`, where the SDK takes the code): the fresh tokens the app then holds. With
 * `api`, the access token is for that resource (RFC 8707 `resource`, its scope asked too).
 */
export async function nativeOidcTokens(
  issuer: string,
  client: { clientId: string; clientSecret: string },
  redirectUri: string,
  user: string,
  api?: { resource: string; scope: string },
): Promise<{ id_token: string; access_token: string }> {
  const config = await openid.discovery(
    new URL(issuer),
    client.clientId,
    undefined,
    openid.ClientSecretPost(client.clientSecret),
    { execute: [openid.allowInsecureRequests] },
  );
  const verifier = openid.randomPKCECodeVerifier();
  const [state, nonce] = [openid.randomState(), openid.randomNonce()];
  const ua = new UserAgent();
  ua.holdRedirectsTo = new RegExp(`^${redirectUri.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\?`);
  let page = await ua.navigate(
    openid.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: `openid email profile${api ? ` ${api.scope}` : ''}`,
      ...(api && { resource: api.resource }),
      state,
      nonce,
      code_challenge: await openid.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).href,
  );
  page = await ua.submitForm(finalUrl(page), await page.text(), { login: user, password: 'any' });
  // Consent, when the provider asks for it.
  if (/\/interaction\//.test(finalUrl(page))) page = await ua.submitForm(finalUrl(page), await page.text());
  const tokens = await openid.authorizationCodeGrant(
    config,
    new URL(page.headers.get('location')!),
    { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce },
    api && { resource: api.resource },
  );
  return { id_token: tokens.id_token!, access_token: tokens.access_token };
}

/**
 * `user` signs in through a SignOnce `provider` (OpenID Connect or OAuth 2 code flow) at the test
 * IdP's login and consent pages; the browser is held at `callbackUrl`, whose URL completes it.
 */
export async function providerSignIn(provider: Provider, user: string, callbackUrl: string): Promise<SignInResult> {
  const state = openid.randomState();
  const { url, pending } = await provider.begin({ callbackUrl, state });
  const ua = new UserAgent();
  ua.holdRedirectsTo = new RegExp(`^${callbackUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\?`);
  let page = await ua.navigate(url);
  page = await ua.submitForm(finalUrl(page), await page.text(), { login: user, password: 'any' });
  if (/\/interaction\//.test(finalUrl(page))) page = await ua.submitForm(finalUrl(page), await page.text());
  return provider.complete!({ callbackUrl, currentUrl: new URL(page.headers.get('location')!), state, pending });
}
