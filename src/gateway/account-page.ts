// The account page's HTML (/.auth/account on the auth host; endpoints/account-page.ts serves it):
// plain server-rendered sections with one form per action, no script. Every value a user, a
// provider or a browser chose is escaped; times are written out in UTC.
import { escapeHtml, htmlDocument } from './pages.ts';

export interface AccountIdentityView {
  readonly provider: string;
  readonly providerName: string;
  readonly subject: string;
  /** What the provider says the identity is called (name or e-mail). */
  readonly name: string;
  readonly linkedAt: number;
}

export interface AccountSessionView {
  readonly ref: string;
  /** "Firefox 133 on Linux" (session/device.ts). */
  readonly device: string;
  readonly address: string | undefined;
  /** The app it signed in to (the account page's own: "this page"). */
  readonly app: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly current: boolean;
}

export interface AccountTokensView {
  readonly provider: string;
  readonly providerName: string;
  /** '' for the sign-in's own tokens. */
  readonly resource: string;
  readonly scope: string | undefined;
  readonly updatedAt: number;
  readonly expiresAt: number | undefined;
  readonly refreshable: boolean;
}

export interface AccountGrantView {
  readonly id: string;
  readonly client: string;
  readonly scope: string;
  readonly expiresAt: number | undefined;
}

export interface AccountView {
  readonly accountId: string;
  readonly name: string;
  readonly providerName: string;
  readonly identities: readonly AccountIdentityView[];
  /** Providers that may still be linked (not password providers: local accounts are never merged). */
  readonly linkable: ReadonlyArray<{ readonly id: string; readonly name: string }>;
  readonly sessions: readonly AccountSessionView[];
  readonly tokens: readonly AccountTokensView[];
  readonly grants: readonly AccountGrantView[];
  /** The account's local sign-in, whose password can be changed here. */
  readonly password: { readonly provider: string; readonly username: string } | undefined;
  /** What the last action did, in words (role=status), or what went wrong (role=alert). */
  readonly notice?: { readonly text: string; readonly problem: boolean } | undefined;
}

/** The words a person types to delete their account: a deliberate act, never a slip of a click. */
export const DELETE_CONFIRMATION = 'delete my account';

/** A time as people in any zone read it unambiguously: 2026-12-06 04:23 UTC. */
const when = (at: number | undefined) =>
  at === undefined ? 'never' : `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** A form of one button posting `fields` to `/.auth/account/{action}`. */
function actionForm(action: string, fields: Record<string, string>, label: string, describedBy?: string): string {
  const hidden = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('');
  const describe = describedBy ? ` aria-describedby="${escapeHtml(describedBy)}"` : '';
  return `<form method="post" action="/.auth/account/${action}">${hidden}<button type="submit"${describe}>${escapeHtml(label)}</button></form>`;
}

function identitiesSection(view: AccountView): string {
  const last = view.identities.length === 1;
  const rows = view.identities.map((identity, i) => {
    const id = `identity-${i}`;
    const action = last
      ? 'Your only sign-in: it cannot be removed'
      : actionForm(
          'unlink',
          { provider: identity.provider, subject: identity.subject },
          `Remove ${identity.providerName}`,
          id,
        );
    return `<tr><th scope="row" id="${id}">${escapeHtml(identity.providerName)}</th><td>${escapeHtml(identity.name)}</td><td>${when(identity.linkedAt)}</td><td>${action}</td></tr>`;
  });
  const link = view.linkable.length
    ? `<p>Link another sign-in, so you can sign in with it too:</p><ul>${view.linkable
        .map((p) => `<li><a href="/.auth/account/link/${encodeURIComponent(p.id)}">Link ${escapeHtml(p.name)}</a></li>`)
        .join('')}</ul>`
    : '';
  return `<section aria-labelledby="identities"><h2 id="identities">Sign-ins of this account</h2>
<table><thead><tr><th scope="col">Provider</th><th scope="col">Signed in as</th><th scope="col">Linked</th><th scope="col">Action</th></tr></thead><tbody>${rows.join('')}</tbody></table>${link}</section>`;
}

function sessionsSection(view: AccountView): string {
  const rows = view.sessions.map((session, i) => {
    const id = `session-${i}`;
    const action = session.current
      ? `This browser${actionForm('sessions/end', { session: session.ref }, 'Sign out', id)}`
      : actionForm('sessions/end', { session: session.ref }, 'Sign out', id);
    return `<tr${session.current ? ' aria-current="true"' : ''}><th scope="row" id="${id}">${escapeHtml(session.device)}${session.current ? ' <strong>(this browser)</strong>' : ''}</th><td>${escapeHtml(session.address ?? 'unknown')}</td><td>${escapeHtml(session.app)}</td><td>${when(session.createdAt)}</td><td>${when(session.lastSeenAt)}</td><td>${action}</td></tr>`;
  });
  const others = view.sessions.some((s) => !s.current)
    ? actionForm('sessions/end-others', {}, 'Sign out everywhere else')
    : '';
  return `<section aria-labelledby="sessions"><h2 id="sessions">Where you are signed in</h2>
<table><thead><tr><th scope="col">Device</th><th scope="col">Address</th><th scope="col">App</th><th scope="col">Signed in</th><th scope="col">Last seen</th><th scope="col">Action</th></tr></thead><tbody>${rows.join('')}</tbody></table>${others}</section>`;
}

function accessSection(view: AccountView): string {
  const tokens = view.tokens.length
    ? `<table><caption>Provider tokens SignOnce keeps for your apps</caption><thead><tr><th scope="col">Provider</th><th scope="col">For</th><th scope="col">Scope</th><th scope="col">Updated</th><th scope="col">Expires</th><th scope="col">Action</th></tr></thead><tbody>${view.tokens
        .map((t, i) => {
          const id = `tokens-${i}`;
          return `<tr><th scope="row" id="${id}">${escapeHtml(t.providerName)}</th><td>${t.resource ? escapeHtml(t.resource) : 'sign-in'}${t.refreshable ? ' (renewable)' : ''}</td><td>${escapeHtml(t.scope ?? '')}</td><td>${when(t.updatedAt)}</td><td>${when(t.expiresAt)}</td><td>${actionForm('tokens/revoke', { provider: t.provider, resource: t.resource }, 'Forget', id)}</td></tr>`;
        })
        .join('')}</tbody></table>`
    : '<p>SignOnce keeps no provider tokens for you.</p>';
  const grants = view.grants.length
    ? `<table><caption>Apps you allowed to sign you in (OpenID clients)</caption><thead><tr><th scope="col">App</th><th scope="col">Scope</th><th scope="col">Until</th><th scope="col">Action</th></tr></thead><tbody>${view.grants
        .map((g, i) => {
          const id = `grant-${i}`;
          return `<tr><th scope="row" id="${id}">${escapeHtml(g.client)}</th><td>${escapeHtml(g.scope)}</td><td>${when(g.expiresAt)}</td><td>${actionForm('grants/revoke', { grant: g.id }, 'Revoke', id)}</td></tr>`;
        })
        .join('')}</tbody></table>`
    : '<p>No app holds an OpenID grant of yours.</p>';
  return `<section aria-labelledby="access"><h2 id="access">Apps holding access for you</h2>${tokens}${grants}</section>`;
}

function passwordSection(view: AccountView): string {
  if (!view.password) return '';
  return `<section aria-labelledby="password"><h2 id="password">Change your password</h2>
<p>Changing it signs you out everywhere else and revokes the apps' OpenID tokens.</p>
<form method="post" action="/.auth/account/password">
<input type="hidden" name="provider" value="${escapeHtml(view.password.provider)}">
<input type="text" name="username" value="${escapeHtml(view.password.username)}" autocomplete="username" hidden>
<label for="current">Current password</label><input id="current" name="current" type="password" required autocomplete="current-password">
<label for="new">New password</label><input id="new" name="password" type="password" required autocomplete="new-password">
<label for="confirm">New password again</label><input id="confirm" name="confirm" type="password" required autocomplete="new-password">
<button type="submit">Change password</button></form></section>`;
}

function deleteSection(): string {
  return `<section aria-labelledby="delete"><h2 id="delete">Delete your account</h2>
<p>Every sign-in, token, session and grant of this account goes, at once and for good; apps no longer know you.</p>
<form method="post" action="/.auth/account/delete">
<label for="confirmation">Type <strong>${DELETE_CONFIRMATION}</strong> to confirm</label><input id="confirmation" name="confirmation" required autocomplete="off">
<button type="submit">Delete my account</button></form></section>`;
}

/** The account page of the signed-in user. */
export function accountPage(view: AccountView): string {
  const notice = view.notice
    ? `<p role="${view.notice.problem ? 'alert' : 'status'}"><strong>${escapeHtml(view.notice.text)}</strong></p>`
    : '';
  const nav = [
    ['identities', 'Sign-ins'],
    ['sessions', 'Sessions'],
    ['access', 'Apps'],
    ...(view.password ? [['password', 'Password']] : []),
    ['delete', 'Delete'],
  ]
    .map(([id, label]) => `<li><a href="#${id}">${label}</a></li>`)
    .join('');
  return htmlDocument(
    'Your account',
    `<h1>Your account</h1>${notice}
<p>Signed in as <strong>${escapeHtml(view.name)}</strong> with ${escapeHtml(view.providerName)}. Account id: <code>${escapeHtml(view.accountId)}</code>.</p>
<nav aria-label="Sections"><ul>${nav}</ul></nav>
${identitiesSection(view)}${sessionsSection(view)}${accessSection(view)}${passwordSection(view)}${deleteSection()}`,
    true,
  );
}
