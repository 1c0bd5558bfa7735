// SignOnce's own pages: plain, accessible HTML with no external assets, served with headers that
// forbid framing, sniffing and any script (OWASP ASVS 14.4) but, on the pages with passkey forms,
// SignOnce's own static scripts (page-scripts.ts), each pinned by its hash.
import type { PageScript } from './page-scripts.ts';

/**
 * Headers of every page. `formTargets`: origins a form on the page may end up at — CSP's
 * form-action also governs the redirects that follow a submission (the dev form's lands on an app).
 * `scripts`: the scripts the page loads, allowed by their hash (CSP Level 3 section 8.3, for
 * external scripts with integrity) and by their exact URL for browsers that match hashes only
 * inline (the integrity attribute still pins their bytes); none: no script at all.
 */
export function pageHeaders(
  formTargets: readonly string[] = [],
  scripts: readonly PageScript[] = [],
): Record<string, string> {
  const scriptSources = scripts.flatMap((s) => [`'${s.integrity}'`, s.src.split('?', 1)[0]!]);
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': `default-src 'none'; ${scripts.length ? `script-src ${scriptSources.join(' ')}; ` : ''}style-src 'unsafe-inline'; form-action 'self'${formTargets.map((o) => ` ${o}`).join('')}; frame-ancestors 'none'; base-uri 'none'`,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
  };
}

/** The CSP source of a URL a form's redirects may reach: its origin, or its scheme (`myapp:`) for an app scheme, whose origin is opaque. */
export const formActionSource = (url: string) => {
  const { origin, protocol } = new URL(url);
  return origin === 'null' ? protocol : origin;
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A throttled form's wait, as a person reads it: "1 second", "45 seconds", "15 minutes". */
export function waitInWords(seconds: number): string {
  const [count, unit] = seconds < 120 ? [seconds, 'second'] : [Math.ceil(seconds / 60), 'minute'];
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/** A form's hidden fields. */
export const hiddenFields = (fields: Readonly<Record<string, string>>) =>
  Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('');

/** A passkey ceremony's form: hidden until passkeys.js shows it (page-scripts.ts), so without JavaScript there is none. */
export interface PasskeyFormView {
  readonly action: string;
  readonly ceremony: 'register' | 'authenticate';
  /** The ceremony's options, for the browser (their challenge is also kept sealed, in `fields` or the login cookie). */
  readonly options: object;
  readonly fields: Readonly<Record<string, string>>;
  readonly label: string;
  /** Offer the passkeys in the username field's autofill too (conditional UI). */
  readonly autofill?: boolean;
  /** Fields of its own before the button (the account page's name for a new passkey). */
  readonly inputs?: string;
  /** The scripts that drive it: the page loads them. */
  readonly scripts: readonly PageScript[];
}

export function passkeyForm(view: PasskeyFormView): string {
  return `<form method="post" action="${escapeHtml(view.action)}" data-passkey="${view.ceremony}" data-options="${escapeHtml(JSON.stringify(view.options))}"${view.autofill ? ' data-autofill' : ''} hidden>${hiddenFields(view.fields)}<input type="hidden" name="response" value="">${view.inputs ?? ''}<button type="submit">${escapeHtml(view.label)}</button><p data-passkey-status role="status"></p></form>`;
}

/**
 * A whole page: `body` inside <main>. `wide` pages (the account page) hold tables: a wider column,
 * and buttons in tables that only take the room they need.
 */
export function htmlDocument(title: string, body: string, wide = false, scripts: readonly PageScript[] = []): string {
  const scriptTags = scripts
    .map((s) => `<script src="${escapeHtml(s.src)}" integrity="${s.integrity}" crossorigin="anonymous" defer></script>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>${scriptTags}
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:${wide ? '60rem' : '32rem'};margin:3rem auto;padding:0 1rem;color:#1a1a1a}
a.button,button{display:block;margin:.5rem 0;padding:.6rem 1rem;border:1px solid #555;border-radius:.3rem;text-decoration:none;color:inherit;background:#f4f4f4;font:inherit;text-align:left;width:100%}
label{display:block;margin-top:.8rem}input{font:inherit;width:100%;padding:.3rem;box-sizing:border-box}${
    wide
      ? `
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ccc;vertical-align:top}
td button{display:inline-block;width:auto;margin:0;padding:.2rem .6rem}caption{text-align:left;font-weight:600}
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1rem}section{margin-top:2rem}`
      : ''
  }</style></head>
<body><main>${body}</main></body></html>`;
}

const page = (title: string, body: string) => htmlDocument(title, body);

/** A link to the account page, from pages of any host (app hosts send it on to the auth host). */
const ACCOUNT_LINK = '<p><a href="/.auth/account">Your account</a></p>';

/** The providers to sign in with; `title` names what the sign-in is for (the account page's own says so, without a link to itself). */
export function signInPage(providers: ReadonlyArray<{ displayName: string; href: string }>, title = 'Sign in'): string {
  const links = providers.map(
    (p) => `<li><a class="button" href="${escapeHtml(p.href)}">Sign in with ${escapeHtml(p.displayName)}</a></li>`,
  );
  const toAccount = title === 'Sign in' ? ACCOUNT_LINK : '';
  return page(
    title,
    `<h1>${escapeHtml(title)}</h1><ul style="list-style:none;padding:0">${links.join('')}</ul>${toAccount}`,
  );
}

export function devSignInForm(action: string, state: string): string {
  return page(
    'Development sign-in',
    `<h1>Development sign-in</h1>
<p><strong>devMode</strong>: this form trusts whatever you type. Never enable it in production.</p>
<form method="get" action="${escapeHtml(action)}">
<input type="hidden" name="state" value="${escapeHtml(state)}">
<label for="user_id">User id</label><input id="user_id" name="user_id" required maxlength="256" value="alice@example.com">
<label for="name">Name</label><input id="name" name="name" value="Alice">
<label for="roles">Roles (comma-separated)</label><input id="roles" name="roles" value="">
<button type="submit">Sign in</button></form>`,
  );
}

export interface PasswordFormView {
  readonly title: string;
  /** Where the form posts (and the registration link). */
  readonly action: string;
  readonly state: string;
  readonly username?: string;
  /** What went wrong with the last attempt, in words. */
  readonly problem?: string;
  readonly register?: boolean;
  /** The other form (registration from sign-in, and back). */
  readonly switchTo?: { readonly href: string; readonly label: string };
  /** Sign-in with a passkey instead (discoverable, offered in the username's autofill too). */
  readonly passkey?: PasskeyFormView | undefined;
}

/**
 * The sign-in (or registration) form of a `password` provider. Posted, never sent in a URL; the
 * browser may offer to fill and save passwords (autocomplete names them).
 */
export function passwordForm(view: PasswordFormView): string {
  const problem = view.problem ? `<p role="alert"><strong>${escapeHtml(view.problem)}</strong></p>` : '';
  const newPassword = view.register
    ? '<label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="new-password">' +
      '<label for="confirm">Password again</label><input id="confirm" name="confirm" type="password" required autocomplete="new-password">'
    : '<label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="current-password">';
  const other = view.switchTo
    ? `<p><a href="${escapeHtml(view.switchTo.href)}">${escapeHtml(view.switchTo.label)}</a></p>`
    : '';
  return htmlDocument(
    view.title,
    `<h1>${escapeHtml(view.title)}</h1>${problem}
<form method="post" action="${escapeHtml(view.action)}">
<input type="hidden" name="state" value="${escapeHtml(view.state)}">
<label for="username">Username</label><input id="username" name="username" required maxlength="128" autocomplete="username${view.passkey ? ' webauthn' : ''}" value="${escapeHtml(view.username ?? '')}">
${newPassword}
<button type="submit">${view.register ? 'Create account' : 'Sign in'}</button></form>${view.passkey ? passkeyForm(view.passkey) : ''}${other}`,
    false,
    view.passkey?.scripts,
  );
}

/**
 * RP-initiated logout's confirmation around oidc-provider's form (`op.logoutForm`, with its
 * anti-forgery field): signing out needs a click, so a link alone cannot sign anyone out.
 */
export function logoutConfirmPage(form: string): string {
  return page(
    'Sign out',
    `<h1>Sign out?</h1><p>You are signing out of every app of this sign-in.</p>${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<button type="submit" form="op.logoutForm">Stay signed in</button>`,
  );
}

/** A third-party client asks for the user's data: allow or deny. */
export function consentPage(client: string, scopes: readonly string[], action: string): string {
  const items = scopes.map((scope) => `<li>${escapeHtml(scope)}</li>`).join('');
  return page(
    'Allow access?',
    `<h1>Allow ${escapeHtml(client)}?</h1><p>${escapeHtml(client)} asks to sign you in and for:</p><ul>${items}</ul>
<form method="post" action="${escapeHtml(action)}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></form>`,
  );
}

/** A failed sign-in: what happened in words, and a way to try again. */
export function errorPage(title: string, message: string, retryHref?: string): string {
  return page(
    title,
    `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${retryHref ? `<p><a class="button" href="${escapeHtml(retryHref)}">Try again</a></p>` : ''}`,
  );
}

export function signedOutPage(): string {
  return page('Signed out', `<h1>You have signed out</h1><p>You can close this window.</p>${ACCOUNT_LINK}`);
}

export interface AccessDeniedView {
  readonly app: string;
  /** Who the browser is signed in as, and with which provider (its display name). */
  readonly name: string;
  readonly provider: string;
  /**
   * In plain words (undefined when the rules are private): who the app lets in (`letsIn`: no rule
   * let this user in), or the operator's description of the rule that refused.
   */
  readonly requirement: string | undefined;
  readonly letsIn: boolean;
  /** Sources of group memberships that could not be read, and why (the refusal's cause when not empty). */
  readonly unavailable: readonly string[];
  /** Signs out, then back to a sign-in (with another account). */
  readonly anotherAccount: string;
}

/** 403 by an app's access rules: who you are, what it asks (unless private), and a way out. */
export function accessDeniedPage(view: AccessDeniedView): string {
  const why = view.unavailable.length
    ? `<p>Your group memberships could not be read just now, so SignOnce cannot tell whether you may use it:</p><ul>${view.unavailable.map((u) => `<li>${escapeHtml(u)}</li>`).join('')}</ul><p>Try again in a few minutes.</p>`
    : view.requirement
      ? `<p>${view.letsIn ? `${escapeHtml(view.app)} lets in ${escapeHtml(view.requirement)}.` : escapeHtml(view.requirement)}</p>`
      : '';
  return page(
    'Access denied',
    `<h1>You cannot use ${escapeHtml(view.app)}</h1>
<p>You are signed in as <strong>${escapeHtml(view.name)}</strong> with ${escapeHtml(view.provider)}.</p>${why}
<p><a class="button" href="${escapeHtml(view.anotherAccount)}">Sign in with another account</a></p>${ACCOUNT_LINK}`,
  );
}

export interface SecondFactorView {
  /** Where the form posts, with its hidden fields (a sign-in's `state`; the account page's sealed enrolment). */
  readonly action: string;
  readonly fields: Readonly<Record<string, string>>;
  readonly problem?: string | undefined;
  /** False on the account page (turning it on there signs no one in, and asks for the password). */
  readonly signingIn: boolean;
  /** Enrolment: the authenticator's QR code (inline SVG, qr.ts) and its secret to type instead. */
  readonly enrol?: { readonly qr: string; readonly secret: string } | undefined;
  /** Whether a code is asked (the account has TOTP, or sets it up); false: passkeys only. */
  readonly code?: boolean;
  /** A passkey of the account instead of a code. */
  readonly passkey?: PasskeyFormView | undefined;
}

/**
 * The second step of a local sign-in: a code from the authenticator app (or a recovery code); or,
 * when the provider requires one and the account has none, setting one up first.
 */
export function secondFactorForm(view: SecondFactorView): string {
  const problem = view.problem ? `<p role="alert"><strong>${escapeHtml(view.problem)}</strong></p>` : '';
  const enrol = view.enrol
    ? `<p>${view.signingIn ? 'This sign-in needs a second step. ' : ''}Scan the code with an authenticator app (or type the key below into it), then enter the 6-digit code it shows.</p>
<figure>${view.enrol.qr}<figcaption>Key: <code>${escapeHtml(view.enrol.secret.replace(/(.{4})/g, '$1 ').trim())}</code></figcaption></figure>`
    : view.code === false
      ? '<p>Use one of your passkeys.</p><noscript><p>Using a passkey needs JavaScript: turn it on in your browser.</p></noscript>'
      : '<p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>';
  const title = view.enrol ? 'Set up two-step sign-in' : 'Two-step sign-in';
  const codeForm =
    view.code === false
      ? ''
      : `<form method="post" action="${escapeHtml(view.action)}">
${hiddenFields(view.fields)}
${view.signingIn ? '' : '<label for="current">Your password</label><input id="current" name="current" type="password" required autocomplete="current-password">'}
<label for="code">${view.enrol ? 'Code from the app' : 'Code'}</label><input id="code" name="code" required maxlength="64" autocomplete="one-time-code" ${view.enrol ? 'inputmode="numeric" ' : ''}${view.signingIn ? 'autofocus' : ''}>
<button type="submit">${view.enrol ? (view.signingIn ? 'Turn on and sign in' : 'Turn on') : 'Sign in'}</button></form>`;
  return htmlDocument(
    title,
    `<h1>${title}</h1>${problem}${enrol}${codeForm}${view.passkey ? passkeyForm(view.passkey) : ''}`,
    false,
    view.passkey?.scripts,
  );
}

/**
 * Recovery codes, shown once: each signs in once instead of a code from the app. `next`: the way
 * on, a form (a sign-in continuing) or a link (back to the account page).
 */
export function recoveryCodesPage(
  codes: readonly string[],
  next:
    | { readonly action: string; readonly fields: Readonly<Record<string, string>>; readonly label: string }
    | { readonly href: string; readonly label: string },
): string {
  const way =
    'href' in next
      ? `<p><a class="button" href="${escapeHtml(next.href)}">${escapeHtml(next.label)}</a></p>`
      : `<form method="post" action="${escapeHtml(next.action)}">${hiddenFields(next.fields)}<button type="submit">${escapeHtml(next.label)}</button></form>`;
  return page(
    'Your recovery codes',
    `<h1>Your recovery codes</h1><p>Keep these somewhere safe: each one signs you in once if you lose your authenticator. They are shown only now.</p>
<ul>${codes.map((c) => `<li><code>${escapeHtml(c)}</code></li>`).join('')}</ul>${way}`,
  );
}
