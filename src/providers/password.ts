// Local accounts (`type: password`): the user signs in on SignOnce's own pages on the auth host
// (src/gateway/password-endpoints.ts), checked against the store (src/accounts/local-accounts.ts).
// As a provider it only starts the sign-in: at its form instead of another site.
import type { Provider } from './types.ts';

export interface PasswordSettings {
  readonly id: string;
  readonly displayName: string;
  readonly allowRegistration: boolean;
  readonly minLength: number;
  /** Second factors of its accounts (config `providers[].mfa`). */
  readonly mfa: 'optional' | 'required' | 'off';
}

export class PasswordProvider implements Provider {
  readonly type = 'password';
  readonly id: string;
  readonly displayName: string;
  readonly allowRegistration: boolean;
  readonly minLength: number;
  readonly mfa: PasswordSettings['mfa'];

  constructor(settings: PasswordSettings) {
    this.id = settings.id;
    this.displayName = settings.displayName;
    this.allowRegistration = settings.allowRegistration;
    this.minLength = settings.minLength;
    this.mfa = settings.mfa;
  }

  async begin({ callbackUrl, state }: { callbackUrl: string; state: string }) {
    const form = new URL(callbackUrl.replace(/\/callback$/, '/form'));
    form.searchParams.set('state', state);
    return { url: form.href, pending: {} };
  }
}

/**
 * The password provider meant: the one named `id`, or without a name the only one configured;
 * a message saying what to name otherwise.
 */
export function passwordProviderNamed<P extends { readonly id: string; readonly type: string }>(
  providers: Iterable<P>,
  id: string | undefined,
): P | string {
  const passwords = [...providers].filter((p) => p.type === 'password');
  const chosen = id === undefined && passwords.length === 1 ? passwords[0] : passwords.find((p) => p.id === id);
  if (chosen) return chosen;
  const known = passwords.map((p) => p.id).join(', ') || 'none is configured';
  return id === undefined
    ? `name the password provider (password providers: ${known})`
    : `no password provider "${id}" (password providers: ${known})`;
}
