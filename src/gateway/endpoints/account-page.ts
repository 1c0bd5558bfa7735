// The account page, /.auth/account on the auth host (README, "The account page"): who I am, my
// sign-ins, where I am signed in, what holds access for me, my password, and deleting my account.
// On the auth host, not an app host: a page of an app's origin could post its forms (same-origin).
// Its session is the auth host's (the single sign-on cookie), got by signing in here with any
// provider; app hosts send /.auth/account on to it. Every form posts under the sign-in forms'
// same-origin rule and answers 303 back to the page (post/redirect/get) with what it did.
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ACCOUNT_PAGE_APP } from '../../session/codes.ts';
import { signedInWith, type SignedInIdentity } from '../../session/principal.ts';
import { accountFacts, liveSessions, providerName } from '../account-facts.ts';
import { accountPage, DELETE_CONFIRMATION, type AccountView } from '../account-page.ts';
import { auditOrigin, recordAudit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { page, queryParam, redirect } from '../http.ts';
import { errorPage, recoveryCodesPage, secondFactorForm, signInPage } from '../pages.ts';
import { qrSvg } from '../qr.ts';
import { PasswordProvider } from '../../providers/index.ts';
import { unlinkIdentity } from './account.ts';
import { readOwnForm, seeOther } from './own-forms.ts';
import { openChallenge, passkeyAnswer, sealChallenge } from './passkey-challenges.ts';
import { PASSKEY_NAME_MAX, type Session } from '../../store/index.ts';
import { ssoSessionOf } from './handoff.ts';
import { SSO_COOKIE, ownCookie } from './login-binding.ts';
import { startAuthHostLogin } from './sign-in.ts';
import { setCookieHeader } from '../../session/cookies.ts';

/** What an action did, by the key it redirects with (`?done=`): fixed words, nothing a request chose. */
const DONE: Readonly<Record<string, string>> = {
  'session-ended': 'That session is signed out.',
  'others-ended': 'You are signed out everywhere else.',
  unlinked: 'The sign-in was removed from your account.',
  'tokens-forgotten': 'SignOnce no longer keeps those tokens.',
  'grant-revoked': 'The app can no longer act for you.',
  'two-step-off': 'Two-step sign-in is off.',
  'password-changed': 'Your password is changed; you are signed out everywhere else.',
  'passkey-added': 'The passkey is added: you can sign in with it.',
  'passkey-renamed': 'The passkey is renamed.',
  'passkey-removed': 'The passkey is removed: it signs in no more.',
};

/** The actions the page's forms post to (`/.auth/account/{action}`). */
export const ACCOUNT_ACTIONS = [
  'sessions/end',
  'sessions/end-others',
  'unlink',
  'tokens/revoke',
  'grants/revoke',
  'password',
  'two-step',
  'two-step/remove',
  'two-step/recovery-codes',
  'passkeys/add',
  'passkeys/rename',
  'passkeys/remove',
  'delete',
] as const;
export type AccountAction = (typeof ACCOUNT_ACTIONS)[number];

/** `endSession`: sign-out's ending of a session (single logout, tokens gone unless kept), for "sign out" of this browser. */
export function accountPageRoutes(
  ctx: GatewayContext,
  endSession: (session: Session, by: { app: string; origin: ReturnType<typeof auditOrigin> }) => Promise<void>,
) {
  const { store, providers, accounts, localAccounts, secondFactors, passkeys } = ctx;
  const PAGE = '/.auth/account';

  /** The auth host's session of this browser, for the page. */
  const current = (request: FastifyRequest) => ssoSessionOf(ctx, request.headers.cookie);

  const clearSsoCookie = (reply: FastifyReply) => {
    const { name, path } = ownCookie(SSO_COOKIE, ctx.secure);
    reply.header('set-cookie', setCookieHeader(name, '', { secure: ctx.secure, maxAgeSeconds: 0, path }));
  };

  /** GET /.auth/account on an app host: the page is the auth host's. */
  function fromAppHost(reply: FastifyReply) {
    return redirect(reply, ctx.authUrl(PAGE));
  }

  /** GET /.auth/account: the page, or the providers to sign in with to see it. */
  async function show(request: FastifyRequest, reply: FastifyReply) {
    const signedIn = await current(request);
    if (!signedIn)
      return page(
        reply,
        200,
        signInPage(
          [...providers.values()].map((p) => ({
            displayName: p.displayName,
            href: `${PAGE}/login/${encodeURIComponent(p.id)}`,
          })),
          'Sign in to your account',
        ),
      );
    const done = queryParam(request, 'done');
    return accountPageAnswer(
      reply,
      200,
      await viewOf(signedIn.session, done && Object.hasOwn(DONE, done) ? DONE[done] : undefined),
    );
  }

  /** The page of `view`, with the scripts of its passkey form when it has one. */
  const accountPageAnswer = (reply: FastifyReply, status: number, view: AccountView) =>
    page(reply, status, accountPage(view), ctx.formTargets, view.passkeys?.add.scripts);

  /** GET /.auth/account/login/{provider}: signs in to the page (any configured provider). */
  function login(reply: FastifyReply, providerId: string) {
    if (!providers.has(providerId))
      return page(reply, 404, errorPage('Unknown sign-in provider', `There is no provider "${providerId}".`, PAGE));
    return startAuthHostLogin(ctx, reply, { provider: providerId, appId: ACCOUNT_PAGE_APP, redirect: PAGE });
  }

  /** GET /.auth/account/link/{provider}: a sign-in whose identity then joins this account. */
  async function link(request: FastifyRequest, reply: FastifyReply, providerId: string) {
    const signedIn = await current(request);
    if (!signedIn) return redirect(reply, ctx.authUrl(PAGE));
    const provider = providers.get(providerId);
    // A local account is an account of its own from its registration on: accounts are never merged.
    if (!provider || provider.type === 'password')
      return page(reply, 404, errorPage('Cannot link', `There is no provider "${providerId}" to link.`, PAGE));
    return startAuthHostLogin(ctx, reply, {
      provider: providerId,
      appId: ACCOUNT_PAGE_APP,
      redirect: PAGE,
      link: signedIn.session.ref,
    });
  }

  /** POST /.auth/account/{action}: one form's action, for the signed-in account only. */
  async function act(request: FastifyRequest, reply: FastifyReply, action: AccountAction) {
    const signedIn = await current(request);
    if (!signedIn)
      return page(reply, 401, errorPage('Sign in first', 'Your session on this page has ended: sign in again.', PAGE));
    const form = await readOwnForm(ctx, request, reply, PAGE);
    if ('answered' in form) return form.answered;
    const field = (name: string) => form.get(name) ?? '';
    const { session } = signedIn;
    const { accountId } = session;
    const audit = (kind: Parameters<typeof recordAudit>[2]['kind'], detail?: object) =>
      recordAudit(ctx, request, {
        kind,
        outcome: 'success',
        accountId,
        actor: accountId,
        app: ACCOUNT_PAGE_APP,
        detail,
      });
    const done = (key: keyof typeof DONE) => seeOther(reply, `${PAGE}?done=${key}`);
    const again = async (status: number, problem: string, headers: Record<string, string> = {}) =>
      accountPageAnswer(reply.headers(headers), status, await viewOf(session, problem, true));

    /** The account's password typed again in the form (`current`), checked as a sign-in is: why not, or undefined. */
    const passwordRefusal = async (own: { provider: string; subject: string }, what: string) => {
      const proven = await localAccounts.signIn(
        own.provider,
        own.subject,
        field('current'),
        ctx.clientAddressOf(request.raw),
      );
      if (proven.ok && proven.accountId === accountId) return undefined;
      return proven.ok || proven.reason !== 'throttled'
        ? { status: 400, problem: `Not ${what}: your password is not right.` }
        : { status: 429, problem: `Not ${what}: too many failed attempts; try again later.` };
    };

    switch (action) {
      case 'sessions/end': {
        // Only a session of this account: another's reference names nothing here.
        const target = (await liveSessions(store, accountId)).find((s) => s.ref === field('session'));
        if (!target) return again(404, 'There is no such session of yours.');
        if (target.ref === session.ref) {
          await endSession(session, { app: ACCOUNT_PAGE_APP, origin: auditOrigin(ctx, request) });
          clearSsoCookie(reply);
          return redirect(reply, ctx.authUrl('/.auth/logout/complete'));
        }
        await store.revokeSessionByRef(target.ref);
        await audit('sessions-ended', { sessions: 1, app: target.data.app });
        return done('session-ended');
      }
      case 'sessions/end-others': {
        const others = (await liveSessions(store, accountId)).filter((s) => s.ref !== session.ref);
        for (const other of others) await store.revokeSessionByRef(other.ref);
        await audit('sessions-ended', { sessions: others.length });
        return done('others-ended');
      }
      case 'unlink': {
        const outcome = await unlinkIdentity(
          ctx,
          request,
          accountId,
          field('provider'),
          field('subject') || undefined,
          ACCOUNT_PAGE_APP,
        );
        if ('refused' in outcome) return again(outcome.refused.status, `Not removed: ${outcome.refused.error}.`);
        if (outcome.ended.some((s) => s.ref === session.ref)) {
          clearSsoCookie(reply);
          return redirect(reply, ctx.authUrl('/.auth/logout/complete'));
        }
        return done('unlinked');
      }
      case 'tokens/revoke': {
        const forgotten = await store.deleteTokens(accountId, field('provider'), field('resource'));
        if (!forgotten) return again(404, 'There are no such tokens of yours.');
        await audit('tokens-revoked', { provider: field('provider'), resource: field('resource') || undefined });
        return done('tokens-forgotten');
      }
      case 'grants/revoke': {
        const grant = (await store.listOidcArtifactsOfAccount('Grant', accountId)).find(
          (g) => g.jti === field('grant'),
        );
        if (!grant) return again(404, 'There is no such grant of yours.');
        await store.revokeOidcGrant(field('grant'));
        await audit('grant-revoked', { client: grant.clientId });
        return done('grant-revoked');
      }
      case 'password': {
        const own = await passwordIdentity(accountId);
        if (!own || own.provider !== field('provider'))
          return again(400, 'This account has no password of that provider.');
        if (field('password') !== field('confirm')) return again(400, 'The two new passwords are not the same.');
        const provider = providers.get(own.provider) as { minLength?: number } | undefined;
        const changed = await localAccounts.changePassword(own.provider, own.subject, {
          current: field('current'),
          password: field('password'),
          minLength: provider?.minLength ?? 12,
          address: ctx.clientAddressOf(request.raw),
          keepSession: session.ref,
        });
        if (!changed.ok) {
          const problem = `Not changed: ${changed.problem}.`;
          return changed.retryAfterMs === undefined
            ? again(400, problem)
            : again(429, problem, { 'retry-after': String(Math.ceil(changed.retryAfterMs / 1000)) });
        }
        await audit('password-changed', { provider: own.provider, username: own.subject });
        return done('password-changed');
      }
      case 'two-step': {
        let enrolment: { secret: string; uri: string };
        try {
          enrolment = JSON.parse(ctx.keyring.openString(field('enrolment'), enrolmentBinding(session)));
        } catch {
          return again(400, 'That set-up has expired: start it again.');
        }
        if (!(await twoStepProvider(accountId))) return again(404, 'This account has no password to add a step to.');
        // Replacing the authenticator would let whoever holds this session drop the owner's: turn it off first (with a code).
        if ((await secondFactors.status(accountId)).totp) return again(400, 'Two-step sign-in is on already.');
        // A session alone does not turn it on: who took one would lock the owner out with their own phone.
        const refused = await passwordRefusal((await passwordIdentity(accountId))!, 'turned on');
        if (refused) return enrolmentPage(reply, refused.status, session, enrolment, refused.problem);
        const confirmed = await secondFactors.confirmTotp(accountId, enrolment.secret, field('code'));
        if (!confirmed.ok) return enrolmentPage(reply, 400, session, enrolment, `Not turned on: ${confirmed.problem}.`);
        await audit('second-factor-added', { factor: 'totp', at: 'account page' });
        return page(reply, 200, recoveryCodesPage(confirmed.recoveryCodes, { href: PAGE, label: 'I have kept them' }));
      }
      case 'two-step/recovery-codes': {
        if (!(await secondFactors.status(accountId)).totp) return again(400, 'Two-step sign-in is off.');
        const codes = await secondFactors.regenerateRecoveryCodes(accountId);
        await audit('second-factor-added', { factor: 'recovery codes', at: 'account page' });
        return page(reply, 200, recoveryCodesPage(codes, { href: PAGE, label: 'I have kept them' }));
      }
      case 'two-step/remove': {
        const provider = await twoStepProvider(accountId);
        if (provider?.mfa === 'required') return again(400, 'Your sign-in requires two-step sign-in.');
        const checked = await secondFactors.verify(accountId, field('code'), ctx.clientAddressOf(request.raw));
        if (!checked.ok)
          return checked.reason === 'throttled'
            ? again(429, 'Not turned off: too many wrong codes; try again later.', {
                'retry-after': String(Math.ceil(checked.retryAfterMs / 1000)),
              })
            : again(400, 'Not turned off: that code is not right.');
        await secondFactors.remove(accountId);
        await audit('second-factor-removed', { factor: 'totp' });
        return done('two-step-off');
      }
      case 'passkeys/add': {
        const own = await passwordIdentity(accountId);
        if (!own) return again(404, 'This account has no local sign-in to add a passkey to.');
        const challenge = openChallenge(ctx, field('challenge'), ['account', session.ref]);
        if (!challenge) return again(400, 'Not added: that took too long; try again.');
        // A session alone does not add one: who took a session would keep their own way in for good.
        const refused = await passwordRefusal(own, 'added');
        if (refused) return again(refused.status, refused.problem);
        const answer = passkeyAnswer<RegistrationResponseJSON>(form);
        if (!answer) return again(400, 'Not added: no passkey was made.');
        const registered = await passkeys.verifyRegistration(accountId, field('name'), answer, challenge);
        if (!registered.ok) return again(400, `Not added: ${registered.problem}.`);
        await audit('second-factor-added', { factor: 'passkey', name: registered.passkey.name, at: 'account page' });
        return done('passkey-added');
      }
      case 'passkeys/rename': {
        const problem = await passkeys.rename(accountId, field('credential'), field('name'));
        if (problem) return again(400, `Not renamed: ${problem}.`);
        return done('passkey-renamed');
      }
      case 'passkeys/remove': {
        if (!(await passkeys.remove(accountId, field('credential'))))
          return again(404, 'There is no such passkey of yours.');
        await audit('second-factor-removed', { factor: 'passkey' });
        return done('passkey-removed');
      }
      case 'delete': {
        if (field('confirmation').trim().toLowerCase() !== DELETE_CONFIRMATION)
          return again(400, `Not deleted: type "${DELETE_CONFIRMATION}" to confirm.`);
        await store.deleteAccount(accountId);
        await audit('account-deleted');
        clearSsoCookie(reply);
        return page(
          reply,
          200,
          errorPage('Account deleted', 'Your account and everything SignOnce kept of it are gone.'),
        );
      }
    }
  }

  /** The provider of a local sign-in (`own`) when it takes second factors (its `mfa` is not off). */
  function twoStepProviderOf(own: { readonly provider: string } | undefined): PasswordProvider | undefined {
    const provider = own && providers.get(own.provider);
    return provider instanceof PasswordProvider && provider.mfa !== 'off' ? provider : undefined;
  }

  /** twoStepProviderOf the account's local sign-in, read now. */
  const twoStepProvider = async (accountId: string) => twoStepProviderOf(await passwordIdentity(accountId));

  async function twoStepOf(
    accountId: string,
    own: { readonly provider: string } | undefined,
  ): Promise<AccountView['twoStep']> {
    const provider = twoStepProviderOf(own);
    if (!provider) return undefined;
    const status = await secondFactors.status(accountId);
    return { on: status.totp, recoveryCodesLeft: status.recoveryCodesLeft, required: provider.mfa === 'required' };
  }

  /** The sealed enrolment a two-step form carries: its secret, for this session only. */
  const enrolmentBinding = (session: Session) => ({ purpose: 'totp-enrolment', owner: [session.ref] });

  /** GET /.auth/account/two-step: setting up an authenticator app (a QR code, its key, a code to confirm). */
  async function twoStep(request: FastifyRequest, reply: FastifyReply) {
    const signedIn = await current(request);
    if (!signedIn) return redirect(reply, ctx.authUrl(PAGE));
    const { session } = signedIn;
    if (!(await twoStepProvider(session.accountId)))
      return page(reply, 404, errorPage('No two-step sign-in', 'This account has no password to add a step to.', PAGE));
    const name = (session.data.user as SignedInIdentity | undefined)?.name ?? session.accountId;
    return enrolmentPage(reply, 200, session, secondFactors.beginTotp(session.accountId, name));
  }

  async function enrolmentPage(
    reply: FastifyReply,
    status: number,
    session: Session,
    enrolment: { secret: string; uri: string },
    problem?: string,
  ) {
    return page(
      reply,
      status,
      secondFactorForm({
        action: `${PAGE}/two-step`,
        fields: { enrolment: ctx.keyring.seal(JSON.stringify(enrolment), enrolmentBinding(session)) },
        signingIn: false,
        problem,
        enrol: { qr: await qrSvg(enrolment.uri), secret: enrolment.secret },
      }),
      ctx.formTargets,
    );
  }

  /** The account's passkeys, and the form adding one (its challenge sealed to this session). */
  async function passkeysOf(session: Session, username: string): Promise<AccountView['passkeys']> {
    const options = await passkeys.registrationOptions(session.accountId, username);
    return {
      list: (await passkeys.list(session.accountId)).map((p) => ({
        id: p.credentialId,
        name: p.name,
        createdAt: p.createdAt,
        lastUsedAt: p.lastUsedAt,
        synced: p.backedUp,
      })),
      add: {
        action: `${PAGE}/passkeys/add`,
        ceremony: 'register',
        options,
        fields: { challenge: sealChallenge(ctx, options.challenge, ['account', session.ref]) },
        inputs: `<label for="passkey-name">Name of the new passkey</label><input id="passkey-name" name="name" required maxlength="${PASSKEY_NAME_MAX}" placeholder="Work laptop">
<label for="passkey-current">Your password</label><input id="passkey-current" name="current" type="password" required autocomplete="current-password">`,
        label: 'Add a passkey',
        scripts: ctx.passkeyScripts,
      },
    };
  }

  /** The account's identity at a password provider, whose password the page can change. */
  async function passwordIdentity(accountId: string) {
    return (await accounts.identities(accountId)).find((i) => providers.get(i.provider)?.type === 'password');
  }

  async function viewOf(session: Session, notice: string | undefined, problem = false): Promise<AccountView> {
    const { accountId } = session;
    const facts = await accountFacts(ctx, accountId, session.ref);
    const user = session.data.user as SignedInIdentity | undefined;
    const own = facts.identities.find((i) => providers.get(i.provider)?.type === 'password');
    const linked = new Set(facts.identities.map((i) => i.provider));
    return {
      ...facts,
      accountId,
      name: user?.name ?? accountId,
      providerName: providerName(ctx, signedInWith(session)?.provider ?? ''),
      linkable: [...providers.values()]
        .filter((p) => p.type !== 'password' && !linked.has(p.id))
        .map((p) => ({ id: p.id, name: p.displayName })),
      password: own && { provider: own.provider, username: own.subject },
      twoStep: await twoStepOf(accountId, own),
      passkeys: own && (await passkeysOf(session, own.subject)),
      notice: notice === undefined ? undefined : { text: notice, problem },
    };
  }

  return { fromAppHost, show, login, link, act, twoStep };
}
