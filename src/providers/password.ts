// Local accounts (`type: password`): the user signs in on SignOnce's own pages on the auth host
// (src/gateway/password-endpoints.ts), checked against the store (src/accounts/local-accounts.ts).
// As a provider it only starts the sign-in: at its form instead of another site.
import type { Provider } from './types.ts';

export interface PasswordSettings {
  readonly id: string;
  readonly displayName: string;
  readonly allowRegistration: boolean;
  readonly minLength: number;
}

export class PasswordProvider implements Provider {
  readonly type = 'password';
  readonly id: string;
  readonly displayName: string;
  readonly allowRegistration: boolean;
  readonly minLength: number;

  constructor(settings: PasswordSettings) {
    this.id = settings.id;
    this.displayName = settings.displayName;
    this.allowRegistration = settings.allowRegistration;
    this.minLength = settings.minLength;
  }

  async begin({ callbackUrl, state }: { callbackUrl: string; state: string }) {
    const form = new URL(callbackUrl.replace(/\/callback$/, '/form'));
    form.searchParams.set('state', state);
    return { url: form.href, pending: {} };
  }
}
