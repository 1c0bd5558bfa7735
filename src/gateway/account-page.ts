// The account page's HTML (/.auth/account on the auth host; endpoints/account-page.ts serves it):
// plain server-rendered sections with one form per action, no script but the passkey form's
// (pages.ts passkeyForm). Every value a user, a provider or a browser chose is escaped; times are
// written out in UTC.
import { PASSKEY_NAME_MAX } from '../store/index.ts';
import { escapeHtml, hiddenFields, htmlDocument, passkeyForm, type PasskeyFormView } from './pages.ts';

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
  /** Two-step sign-in of the local sign-in (undefined: none, or its provider's `mfa` is off). */
  readonly twoStep:
    | { readonly on: boolean; readonly recoveryCodesLeft: number; readonly required: boolean }
    | undefined;
  /** The local sign-in's passkeys, and the form adding one (undefined: the account has no local sign-in). */
  readonly passkeys: { readonly list: readonly AccountPasskeyView[]; readonly add: PasskeyFormView } | undefined;
  /** What the last action did, in words (role=status), or what went wrong (role=alert). */
  readonly notice?: { readonly text: string; readonly problem: boolean } | undefined;
}

export interface AccountPasskeyView {
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
  readonly lastUsedAt: number | undefined;
  /** Synced to the user's other devices (backed up). */
  readonly synced: boolean;
}

/** The words a person types to delete their account: a deliberate act, never a slip of a click. */
export const DELETE_CONFIRMATION = 'delete my account';

/** A time as people in any zone read it unambiguously: 2026-12-06 04:23 UTC. */
export const when = (at: number | undefined) =>
  at === undefined ? 'never' : `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** A form of one button posting `fields` to `/.auth/account/{action}`. */
export function actionForm(
  action: string,
  fields: Record<string, string>,
  label: string,
  describedBy?: string,
): string {
  const hidden = hiddenFields(fields);
  const describe = describedBy ? ` aria-describedby="${escapeHtml(describedBy)}"` : '';
  return `<form method="post" action="${action.startsWith('/') ? escapeHtml(action) : `/.auth/account/${action}`}">${hidden}<button type="submit"${describe}>${escapeHtml(label)}</button></form>`;
}

/** A row's action cell, given the id of the row's header (for aria-describedby); none: no Action column. */
export type RowAction<T> = (item: T, rowHeaderId: string) => string;

/**
 * A table with a header cell per row (`scope="row"`, id `${idPrefix}-${i}`) and, with `action`, a
 * last column of what can be done with the row.
 */
function table<T>(
  columns: readonly string[],
  items: readonly T[],
  cells: (item: T, rowHeaderId: string) => readonly [header: string, ...rest: string[]],
  idPrefix: string,
  action?: RowAction<T>,
  caption?: string,
): string {
  const head = [...columns, ...(action ? ['Action'] : [])].map((c) => `<th scope="col">${c}</th>`).join('');
  const rows = items.map((item, i) => {
    const id = `${idPrefix}-${i}`;
    const [header, ...rest] = cells(item, id);
    const tail = action ? [action(item, id)] : [];
    return `<tr><th scope="row" id="${id}">${header}</th>${[...rest, ...tail].map((c) => `<td>${c}</td>`).join('')}</tr>`;
  });
  return `<table>${caption ? `<caption>${escapeHtml(caption)}</caption>` : ''}<thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export const identitiesTable = (identities: readonly AccountIdentityView[], action?: RowAction<AccountIdentityView>) =>
  table(
    ['Provider', 'Signed in as', 'Linked'],
    identities,
    (i) => [escapeHtml(i.providerName), escapeHtml(i.name), when(i.linkedAt)],
    'identity',
    action,
  );

export const sessionsTable = (sessions: readonly AccountSessionView[], action?: RowAction<AccountSessionView>) =>
  table(
    ['Device', 'Address', 'App', 'Signed in', 'Last seen'],
    sessions,
    (s) => [
      `${escapeHtml(s.device)}${s.current ? ' <strong>(this browser)</strong>' : ''}`,
      escapeHtml(s.address ?? 'unknown'),
      escapeHtml(s.app),
      when(s.createdAt),
      when(s.lastSeenAt),
    ],
    'session',
    action,
  );

export const tokensTable = (tokens: readonly AccountTokensView[], action?: RowAction<AccountTokensView>) =>
  table(
    ['Provider', 'For', 'Scope', 'Updated', 'Expires'],
    tokens,
    (t) => [
      escapeHtml(t.providerName),
      `${t.resource ? escapeHtml(t.resource) : 'sign-in'}${t.refreshable ? ' (renewable)' : ''}`,
      escapeHtml(t.scope ?? ''),
      when(t.updatedAt),
      when(t.expiresAt),
    ],
    'tokens',
    action,
    'Provider tokens SignOnce keeps for the apps',
  );

export const grantsTable = (grants: readonly AccountGrantView[], action?: RowAction<AccountGrantView>) =>
  table(
    ['App', 'Scope', 'Until'],
    grants,
    (g) => [escapeHtml(g.client), escapeHtml(g.scope), when(g.expiresAt)],
    'grant',
    action,
    'Apps allowed to sign in as this account (OpenID clients)',
  );

function identitiesSection(view: AccountView): string {
  const last = view.identities.length === 1;
  const link = view.linkable.length
    ? `<p>Link another sign-in, so you can sign in with it too:</p><ul>${view.linkable
        .map((p) => `<li><a href="/.auth/account/link/${encodeURIComponent(p.id)}">Link ${escapeHtml(p.name)}</a></li>`)
        .join('')}</ul>`
    : '';
  return `<section aria-labelledby="identities"><h2 id="identities">Sign-ins of this account</h2>${identitiesTable(
    view.identities,
    (identity, id) =>
      last
        ? 'Your only sign-in: it cannot be removed'
        : actionForm(
            'unlink',
            { provider: identity.provider, subject: identity.subject },
            `Remove ${identity.providerName}`,
            id,
          ),
  )}${link}</section>`;
}

function sessionsSection(view: AccountView): string {
  const others = view.sessions.some((s) => !s.current)
    ? actionForm('sessions/end-others', {}, 'Sign out everywhere else')
    : '';
  return `<section aria-labelledby="sessions"><h2 id="sessions">Where you are signed in</h2>${sessionsTable(
    view.sessions,
    (session, id) => actionForm('sessions/end', { session: session.ref }, 'Sign out', id),
  )}${others}</section>`;
}

function accessSection(view: AccountView): string {
  const tokens = view.tokens.length
    ? tokensTable(view.tokens, (t, id) =>
        actionForm('tokens/revoke', { provider: t.provider, resource: t.resource }, 'Forget', id),
      )
    : '<p>SignOnce keeps no provider tokens for you.</p>';
  const grants = view.grants.length
    ? grantsTable(view.grants, (g, id) => actionForm('grants/revoke', { grant: g.id }, 'Revoke', id))
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

function twoStepSection(view: AccountView): string {
  const { twoStep } = view;
  if (!twoStep) return '';
  const body = twoStep.on
    ? `<p>On: signing in with your password also asks for a code from your authenticator app. ${twoStep.recoveryCodesLeft} recovery code${twoStep.recoveryCodesLeft === 1 ? '' : 's'} left.</p>
${actionForm('two-step/recovery-codes', {}, 'New recovery codes (the old ones stop working)')}${
  twoStep.required
    ? '<p>Your sign-in requires it: it cannot be turned off.</p>'
    : `<form method="post" action="/.auth/account/two-step/remove"><label for="remove-code">A code from the app, to turn it off</label><input id="remove-code" name="code" required maxlength="64" autocomplete="one-time-code"><button type="submit">Turn off two-step sign-in</button></form>`
}`
    : `<p>${
        view.passkeys?.list.length
          ? 'No authenticator app: signing in with your password asks for one of your passkeys.'
          : 'Off: your password alone signs you in.'
      }</p><p><a class="button" href="/.auth/account/two-step">Turn on two-step sign-in</a></p>`;
  return `<section aria-labelledby="two-step"><h2 id="two-step">Two-step sign-in</h2>${body}</section>`;
}

function passkeysSection(view: AccountView): string {
  const { passkeys } = view;
  if (!passkeys) return '';
  const list = passkeys.list.length
    ? table(
        ['Name', 'Added', 'Last used', 'Rename'],
        passkeys.list,
        (p, id) => [
          `${escapeHtml(p.name)}${p.synced ? ' (synced)' : ''}`,
          when(p.createdAt),
          when(p.lastUsedAt),
          `<form method="post" action="/.auth/account/passkeys/rename">${hiddenFields({ credential: p.id })}<label for="${id}-name">New name</label><input id="${id}-name" name="name" required maxlength="${PASSKEY_NAME_MAX}" value="${escapeHtml(p.name)}" aria-describedby="${id}"><button type="submit" aria-describedby="${id}">Rename</button></form>`,
        ],
        'passkey',
        (p, id) => actionForm('passkeys/remove', { credential: p.id }, 'Remove', id),
      )
    : '<p>No passkeys yet.</p>';
  return `<section aria-labelledby="passkeys"><h2 id="passkeys">Passkeys</h2>
<p>A passkey signs you in without your password (your device asks for its PIN, fingerprint or face), or serves as the second step after it.</p>${list}
<noscript><p>Adding a passkey needs JavaScript: turn it on in your browser.</p></noscript>${passkeyForm(passkeys.add)}</section>`;
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
    ...(view.twoStep ? [['two-step', 'Two-step sign-in']] : []),
    ...(view.passkeys ? [['passkeys', 'Passkeys']] : []),
    ['delete', 'Delete'],
  ]
    .map(([id, label]) => `<li><a href="#${id}">${label}</a></li>`)
    .join('');
  return htmlDocument(
    'Your account',
    `<h1>Your account</h1>${notice}
<p>Signed in as <strong>${escapeHtml(view.name)}</strong> with ${escapeHtml(view.providerName)}. Account id: <code>${escapeHtml(view.accountId)}</code>.</p>
<nav aria-label="Sections"><ul>${nav}</ul></nav>
${identitiesSection(view)}${sessionsSection(view)}${accessSection(view)}${passwordSection(view)}${twoStepSection(view)}${passkeysSection(view)}${deleteSection()}`,
    true,
    view.passkeys?.add.scripts,
  );
}
