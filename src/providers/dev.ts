// The dev provider: a form on the auth host that trusts whatever is typed. Development only: the
// config refuses it unless devMode is on, and the gateway logs a warning at start.
import { principalName, toClaims } from './claims.ts';
import { ProviderError, type Provider, type SignInResult } from './types.ts';

export class DevProvider implements Provider {
  readonly type = 'dev';
  readonly displayName = 'Development sign-in (trusts what is typed)';
  readonly id: string;

  constructor(id: string) {
    this.id = id;
  }

  async begin({ callbackUrl, state }: { callbackUrl: string; state: string }) {
    const form = new URL(callbackUrl.replace(/\/callback$/, '/form'));
    form.searchParams.set('state', state);
    return { url: form.href, pending: {} };
  }

  async complete({ currentUrl }: { currentUrl: URL }): Promise<SignInResult> {
    const userId = currentUrl.searchParams.get('user_id')?.trim() ?? '';
    if (!userId || userId.length > 256)
      throw new ProviderError('denied', 'a user id of 1 to 256 characters is required');
    const name = currentUrl.searchParams.get('name')?.trim() || userId;
    const roles = (currentUrl.searchParams.get('roles') ?? '')
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean);
    const source = {
      sub: userId,
      name,
      ...(userId.includes('@') ? { email: userId } : {}),
      ...(roles.length ? { roles } : {}),
    };
    return { subject: userId, name: principalName(source, userId), claims: toClaims(source), tokens: {} };
  }
}
