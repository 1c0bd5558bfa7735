// The admin console's HTML (/.auth/admin on the auth host; endpoints/admin.ts serves it): the
// dashboard, finding users, a user, the audit log. Server-rendered, no script; charts are SVG
// drawn here (charts.ts). Token values never appear: only what the store says about tokens.
import type { AccountMatch } from '../accounts/lookup.ts';
import type { AuditEvent } from '../store/index.ts';
import type { AccountFacts } from './account-facts.ts';
import { actionForm, grantsTable, identitiesTable, sessionsTable, tokensTable, when } from './account-page.ts';
import { escapeHtml, htmlDocument } from './pages.ts';

export const ADMIN_ROOT = '/.auth/admin';

/** A page of the console: its navigation, what the last action did (`notice`), then `body`. */
function adminPage(title: string, body: string, notice?: { text: string; problem: boolean }): string {
  const nav = [
    [ADMIN_ROOT, 'Dashboard'],
    [`${ADMIN_ROOT}/users`, 'Users'],
    [`${ADMIN_ROOT}/audit`, 'Audit log'],
    ['/.auth/account', 'Your account'],
  ]
    .map(([href, label]) => `<li><a href="${href}">${label}</a></li>`)
    .join('');
  const said = notice
    ? `<p role="${notice.problem ? 'alert' : 'status'}"><strong>${escapeHtml(notice.text)}</strong></p>`
    : '';
  return htmlDocument(
    `${title} — SignOnce admin`,
    `<nav aria-label="Admin console"><ul>${nav}</ul></nav><h1>${escapeHtml(title)}</h1>${said}${body}`,
    true,
  );
}

/** The form that finds users (GET, so a search is a link that can be kept). */
const searchForm = (q = '') =>
  `<form method="get" action="${ADMIN_ROOT}/users" role="search"><label for="q">Find a user: an account id, a username, an e-mail or a provider's subject</label><input id="q" name="q" value="${escapeHtml(q)}" required maxlength="512"><button type="submit">Find</button></form>`;

/** The dashboard: the search, then each chart (SVG, with its heading) as given. */
export function dashboardPage(charts: ReadonlyArray<{ readonly title: string; readonly svg: string }>): string {
  const sections = charts
    .map(
      (c, i) =>
        `<section aria-labelledby="chart-${i}"><h2 id="chart-${i}">${escapeHtml(c.title)}</h2>${c.svg}</section>`,
    )
    .join('');
  return adminPage('Dashboard', `${searchForm()}${sections}`);
}

export interface UserSummary extends AccountMatch {
  readonly identities: ReadonlyArray<{ readonly provider: string; readonly name: string }>;
  readonly disabled: boolean;
}

/** What a search found. */
export function usersPage(q: string, found: readonly UserSummary[] | undefined): string {
  const results =
    found === undefined
      ? ''
      : found.length === 0
        ? `<p role="status">No account matches ${escapeHtml(JSON.stringify(q))}.</p>`
        : `<table><caption>${found.length} account${found.length === 1 ? '' : 's'} found</caption><thead><tr><th scope="col">Account</th><th scope="col">Matched by</th><th scope="col">Sign-ins</th><th scope="col">State</th></tr></thead><tbody>${found
            .map(
              (u) =>
                `<tr><th scope="row"><a href="${ADMIN_ROOT}/users/${encodeURIComponent(u.accountId)}">${escapeHtml(u.accountId)}</a></th><td>${escapeHtml(u.reasons.join(', '))}</td><td>${u.identities.map((i) => `${escapeHtml(i.provider)}: ${escapeHtml(i.name)}`).join('<br>')}</td><td>${u.disabled ? 'disabled' : 'active'}</td></tr>`,
            )
            .join('')}</tbody></table>`;
  return adminPage('Users', `${searchForm(q)}${results}`);
}

/** Of an event's detail, what a table shows: its JSON, cut (a detail may hold 4,096 characters; a page stays under 50 KB). */
const DETAIL_SHOWN = 160;
/** Of any other text of an event (ids, kinds, addresses: short unless something is wrong). */
const CELL_SHOWN = 80;
const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);
const detailText = (detail: unknown) => (detail === undefined ? '' : cut(JSON.stringify(detail), DETAIL_SHOWN));

/** Audit events, newest first. */
export function auditTable(events: readonly AuditEvent[], caption: string): string {
  if (!events.length) return `<p>No audit events${caption ? ` (${escapeHtml(caption)})` : ''}.</p>`;
  const cell = (text: string | undefined) => `<td>${escapeHtml(cut(text ?? '', CELL_SHOWN))}</td>`;
  const rows = events.map(
    (e) =>
      `<tr><th scope="row">${when(e.at)}</th>${cell(e.kind)}${cell(e.outcome)}<td>${
        e.accountId
          ? `<a href="${ADMIN_ROOT}/users/${encodeURIComponent(e.accountId)}">${escapeHtml(e.accountId)}</a>`
          : ''
      }</td>${cell(e.actor)}${cell(e.app)}${cell(e.address)}${cell(detailText(e.detail))}</tr>`,
  );
  return `<table><caption>${escapeHtml(caption)}</caption><thead><tr><th scope="col">Time</th><th scope="col">Kind</th><th scope="col">Outcome</th><th scope="col">Account</th><th scope="col">Actor</th><th scope="col">App</th><th scope="col">Address</th><th scope="col">Detail</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export interface AuditFilters {
  readonly kind?: string | undefined;
  readonly account?: string | undefined;
  /** The id of the page's last event: the next page starts after it. */
  readonly next?: number | undefined;
}

/** The audit log with its filters (GET form), a page at a time. */
export function auditPage(events: readonly AuditEvent[], kinds: readonly string[], filters: AuditFilters): string {
  const options = ['', ...kinds]
    .map(
      (k) => `<option value="${escapeHtml(k)}"${k === (filters.kind ?? '') ? ' selected' : ''}>${k || 'any'}</option>`,
    )
    .join('');
  const form = `<form method="get" action="${ADMIN_ROOT}/audit"><label for="kind">Kind</label><select id="kind" name="kind">${options}</select><label for="account">Account id</label><input id="account" name="account" value="${escapeHtml(filters.account ?? '')}" maxlength="512"><button type="submit">Show</button></form>`;
  const query = new URLSearchParams({
    ...(filters.kind ? { kind: filters.kind } : {}),
    ...(filters.account ? { account: filters.account } : {}),
    ...(filters.next !== undefined ? { before: String(filters.next) } : {}),
  });
  const more =
    filters.next !== undefined
      ? `<p><a href="${ADMIN_ROOT}/audit?${escapeHtml(query.toString())}">Older events</a></p>`
      : '';
  return adminPage('Audit log', `${form}${auditTable(events, 'Newest first')}${more}`);
}

export interface UserView {
  readonly accountId: string;
  readonly createdAt: number;
  readonly disabledAt: number | undefined;
  readonly facts: AccountFacts;
  readonly groups: readonly string[];
  readonly providerGroups: ReadonlyArray<{
    readonly provider: string;
    readonly groups: readonly string[];
    readonly readAt: number;
  }>;
  readonly events: readonly AuditEvent[];
  /** Its local sign-in's second factors (SecondFactors.status). */
  readonly twoStep: { readonly totp: boolean; readonly recoveryCodesLeft: number; readonly passkeys: number };
  /** The admin's own account: it cannot be disabled or deleted from here. */
  readonly self: boolean;
  readonly notice?: { readonly text: string; readonly problem: boolean } | undefined;
}

/** One user: what SignOnce knows of them, and what an admin can do. */
export function userPage(view: UserView): string {
  const base = `${ADMIN_ROOT}/users/${encodeURIComponent(view.accountId)}`;
  const act = (action: string, label: string, fields: Record<string, string> = {}, describedBy?: string) =>
    actionForm(`${base}/${action}`, fields, label, describedBy);
  const state = view.disabledAt === undefined ? 'active' : `disabled since ${when(view.disabledAt)}`;
  const actions = view.self
    ? '<p>This is your own account: disable or delete it from another admin account.</p>'
    : `${view.disabledAt === undefined ? act('disable', 'Disable (signs out everywhere)') : act('enable', 'Enable')}
<form method="post" action="${base}/delete"><label for="confirm-delete">Type the account id to delete it with everything of it</label><input id="confirm-delete" name="confirmation" required autocomplete="off"><button type="submit">Delete the account</button></form>`;
  const groups = view.groups.length
    ? `<ul>${view.groups.map((g, i) => `<li id="group-${i}">${escapeHtml(g)} ${act('groups/remove', `Remove from ${g}`, { group: g }, `group-${i}`)}</li>`).join('')}</ul>`
    : '<p>In no SignOnce group.</p>';
  const providerGroups = view.providerGroups.length
    ? `<ul>${view.providerGroups.map((p) => `<li>${escapeHtml(p.provider)} (read ${when(p.readAt)}): ${escapeHtml(p.groups.join(', ') || 'none')}</li>`).join('')}</ul>`
    : '<p>No provider told its groups.</p>';
  const { facts } = view;
  return adminPage(
    `Account ${view.accountId}`,
    `<p>Created ${when(view.createdAt)}; ${state}.</p>
<section aria-labelledby="actions"><h2 id="actions">Actions</h2>${actions}${act('sign-out', 'Sign out everywhere')}</section>
<section aria-labelledby="identities"><h2 id="identities">Sign-ins</h2>${identitiesTable(facts.identities)}<p>Two-step sign-in: ${view.twoStep.totp ? `on (${view.twoStep.recoveryCodesLeft} recovery codes left)` : 'off'}; passkeys: ${view.twoStep.passkeys}.</p>${
      view.twoStep.totp || view.twoStep.passkeys
        ? act('second-factors/reset', 'Reset two-step sign-in and passkeys (a lost device)')
        : ''
    }</section>
<section aria-labelledby="groups"><h2 id="groups">Groups</h2><h3>SignOnce groups</h3>${groups}
<form method="post" action="${base}/groups/add"><label for="group">Add to the SignOnce group</label><input id="group" name="group" required maxlength="128"><button type="submit">Add</button></form>
<h3>Told by providers</h3>${providerGroups}</section>
<section aria-labelledby="sessions"><h2 id="sessions">Sessions</h2>${facts.sessions.length ? sessionsTable(facts.sessions) : '<p>Signed in nowhere.</p>'}</section>
<section aria-labelledby="tokens"><h2 id="tokens">Tokens and grants</h2>${facts.tokens.length ? tokensTable(facts.tokens) : '<p>No provider tokens kept.</p>'}${facts.grants.length ? grantsTable(facts.grants) : '<p>No OpenID grants.</p>'}</section>
<section aria-labelledby="events"><h2 id="events">Audit events</h2>${auditTable(view.events, `The latest ${view.events.length} of this account`)}<p><a href="${ADMIN_ROOT}/audit?account=${encodeURIComponent(view.accountId)}">Every event of this account</a></p></section>`,
    view.notice,
  );
}

/** The console refuses this account: who it is, and why (the admin.access rules decide). No console navigation. */
export function notAdminPage(name: string, reason: string): string {
  return htmlDocument(
    'Not an administrator',
    `<h1>Not an administrator</h1><p>You are signed in as <strong>${escapeHtml(name)}</strong>, who may not use the admin console: ${escapeHtml(reason)}.</p><p>To use another account, sign out of this browser on <a href="/.auth/account">your account page</a>, then come back.</p>`,
  );
}
