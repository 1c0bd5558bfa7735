// The sign-in flows tests and benchmarks go through again and again, in one place.
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
export async function nativeDevSignIn(appOrigin: string, appScheme: string, fields: Record<string, string>): Promise<NativeSignIn> {
  const ua = new UserAgent();
  const form = await ua.navigate(`${appOrigin}/.auth/login/dev?post_login_redirect_uri=${encodeURIComponent(appScheme)}`);
  const handover = await ua.submitForm(finalUrl(form), await form.text(), fields);
  return { ua, handover, ...handedOver(handover) };
}

/** What the final redirect to an app's scheme carries: #token={"authenticationToken","user":{"userId"}}. */
export function handedOver(handover: Response): { authenticationToken: string; userId: string } {
  const hash = new URL(handover.headers.get('location')!).hash;
  const result = JSON.parse(decodeURIComponent(hash.slice('#token='.length))) as { authenticationToken: string; user: { userId: string } };
  return { authenticationToken: result.authenticationToken, userId: result.user.userId };
}

/** Signs `user` in at `appUrl` through oidc-provider's login and consent pages; the page landed on. */
export async function oidcSignIn(appUrl: string, user: string, ua = new UserAgent()): Promise<{ ua: UserAgent; landed: Response }> {
  const login = await ua.navigate(appUrl);
  const consent = await ua.submitForm(finalUrl(login), await login.text(), { login: user, password: 'any' });
  return { ua, landed: await ua.submitForm(finalUrl(consent), await consent.text()) };
}

/**
 * Signs in at `appUrl` (an app page, or its /.auth/login/dev…) through the `dev` provider's form:
 * `user` is the user id typed, or every field of the form; the page landed on.
 */
export async function devSignIn(appUrl: string, user: string | Record<string, string>, ua = new UserAgent()): Promise<{ ua: UserAgent; landed: Response }> {
  const form = await ua.navigate(appUrl);
  return { ua, landed: await ua.submitForm(finalUrl(form), await form.text(), typeof user === 'string' ? { user_id: user } : user) };
}
