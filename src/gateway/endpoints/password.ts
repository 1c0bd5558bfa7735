// The pages of `password` providers, on the auth host: the sign-in form and, with
// allowRegistration, the registration form. They are the provider's "site": a sign-in started at
// /.auth/login/{p} lands here with its state, bound to the browser like any other (sign-in.ts),
// and ends the same way. A mistake shows the form again under a new state; the answer to a wrong
// password never says whether the user exists; guessing is throttled (429 with Retry-After).
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toClaims } from '../../providers/claims.ts';
import type { PasswordProvider, SignInResult } from '../../providers/index.ts';
import type { LoginRequest } from '../../session/codes.ts';
import { recordAudit, signInHappened } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { page, queryParam } from '../http.ts';
import {
  errorPage,
  passwordForm,
  recoveryCodesPage,
  secondFactorForm,
  type PasskeyFormView,
  waitInWords,
} from '../pages.ts';
import { qrSvg } from '../qr.ts';
import { readOwnForm } from './own-forms.ts';
import { openChallenge, passkeyAnswer, sealChallenge } from './passkey-challenges.ts';
import { continueLogin, loginExpired, takeLogin } from './login-binding.ts';
import { signedInAt } from './sign-in.ts';

export function passwordRoutes(ctx: GatewayContext) {
  const { localAccounts: local, secondFactors, passkeys, passkeyScripts, formTargets, clientAddressOf, log } = ctx;

  const formPath = (provider: PasswordProvider, register: boolean) =>
    `/.auth/login/${encodeURIComponent(provider.id)}/${register ? 'register' : 'form'}`;

  /** The sign-in (or registration) form under `state`; the sign-in form offers passkeys too. */
  async function showView(
    reply: FastifyReply,
    status: number,
    provider: PasswordProvider,
    register: boolean,
    state: string,
    extra: { username?: string; problem?: string; passkeyRefused?: boolean } = {},
  ) {
    // After a refused passkey, autofill would offer (and a browser may send) the same one again.
    const passkey = register ? undefined : await passkeySignIn(provider, state, !extra.passkeyRefused);
    return page(reply, status, view(provider, register, state, { ...extra, passkey }), formTargets, passkey?.scripts);
  }

  /** The passkey form of the sign-in page: discoverable, its challenge sealed to this sign-in's state. */
  async function passkeySignIn(provider: PasswordProvider, state: string, autofill: boolean): Promise<PasskeyFormView> {
    const options = await passkeys.authenticationOptions();
    return {
      action: `/.auth/login/${encodeURIComponent(provider.id)}/passkey`,
      ceremony: 'authenticate',
      options,
      fields: { state, challenge: sealChallenge(ctx, options.challenge, ['sign-in', state]) },
      label: 'Sign in with a passkey',
      autofill,
      scripts: passkeyScripts,
    };
  }

  function view(
    provider: PasswordProvider,
    register: boolean,
    state: string,
    extra: { username?: string; problem?: string; passkey?: PasskeyFormView | undefined } = {},
  ) {
    const other = register
      ? { href: `${formPath(provider, false)}?state=${encodeURIComponent(state)}`, label: 'I have an account: sign in' }
      : provider.allowRegistration
        ? {
            href: `${formPath(provider, true)}?state=${encodeURIComponent(state)}`,
            label: 'No account yet? Create one',
          }
        : undefined;
    return passwordForm({
      title: register ? `Create an account (${provider.displayName})` : `Sign in (${provider.displayName})`,
      action: formPath(provider, register),
      state,
      register,
      ...extra,
      ...(other ? { switchTo: other } : {}),
    });
  }

  /** GET …/form or …/register: the form, for the sign-in in progress named by `state`. */
  function showForm(request: FastifyRequest, reply: FastifyReply, provider: PasswordProvider, register: boolean) {
    if (register && !provider.allowRegistration)
      return page(
        reply,
        404,
        errorPage('No registration', `${provider.displayName} accounts are created by an administrator.`),
      );
    return showView(reply, 200, provider, register, queryParam(request, 'state') ?? '');
  }

  /** POST …/form or …/register. */
  async function submit(request: FastifyRequest, reply: FastifyReply, provider: PasswordProvider, register: boolean) {
    if (register && !provider.allowRegistration)
      return page(
        reply,
        404,
        errorPage('No registration', `${provider.displayName} accounts are created by an administrator.`),
      );
    const form = await readOwnForm(ctx, request, reply, undefined, 'Sign-in refused');
    if ('answered' in form) return form.answered;
    const field = (name: string) => form.get(name) ?? '';
    const taken = await takeLogin(ctx, request, reply, provider, field('state'));
    if (!taken) return loginExpired(reply);
    const { login } = taken;
    const username = field('username');
    const again = async (status: number, problem: string, headers: Record<string, string> = {}) => {
      const state = await continueLogin(ctx, reply, login);
      return showView(reply.headers(headers), status, provider, register, state, { username, problem });
    };

    if (register) {
      if (field('password') !== field('confirm')) return again(400, 'The two passwords are not the same.');
      const registered = await local.register(provider.id, username, field('password'), provider.minLength);
      if (!registered.ok) return again(400, `${registered.problem[0]!.toUpperCase()}${registered.problem.slice(1)}.`);
      log.info({ provider: provider.id, account: registered.accountId }, 'local account registered');
      return passwordProven(request, reply, provider, login, registered, 'registration');
    }
    const address = clientAddressOf(request.raw);
    const outcome = await local.signIn(provider.id, username, field('password'), address);
    if (outcome.ok) return passwordProven(request, reply, provider, login, outcome, 'password');
    if (outcome.reason === 'throttled') {
      const seconds = Math.ceil(outcome.retryAfterMs / 1000);
      await signInHappened(
        ctx,
        request,
        {
          provider: provider.id,
          outcome: 'throttled',
          method: 'password',
          app: login.appId,
          reason: `too many failed attempts: retry after ${seconds} s`,
        },
        'password sign-in throttled',
      );
      return again(429, `Too many failed attempts. Try again in ${waitInWords(seconds)}.`, {
        'retry-after': String(seconds),
      });
    }
    await signInHappened(
      ctx,
      request,
      {
        provider: provider.id,
        outcome: 'failed',
        method: 'password',
        account: outcome.accountId,
        app: login.appId,
        reason: outcome.accountId ? 'wrong password' : 'unknown username',
      },
      'password sign-in failed',
    );
    return again(401, 'The username or the password is not right.');
  }

  /**
   * The password was right (or the account just made): the second step when the account has a
   * second factor, or the provider requires one (set up now); else signed in (`amr` pwd, RFC 8176).
   */
  async function passwordProven(
    request: FastifyRequest,
    reply: FastifyReply,
    provider: PasswordProvider,
    login: LoginRequest,
    proven: { accountId: string; result: SignInResult },
    method: 'password' | 'registration',
  ) {
    const step: SecondStep = { accountId: proven.accountId, result: proven.result, method };
    // Step-up (login.mfa) with factors allowed but none set up: set one up now. With `mfa: off`,
    // signedInAt refuses the step-up (and says so).
    if (provider.mfa !== 'off') {
      if (await hasSecondFactor(proven.accountId)) return secondStep(reply, provider, login, step);
      if (provider.mfa === 'required' || login.mfa)
        return secondStep(reply, provider, login, {
          ...step,
          enrol: secondFactors.beginTotp(proven.accountId, proven.result.name),
        });
    }
    return signedInAt(ctx, request, reply, provider, login, withAmr(proven.result, ['pwd']), method);
  }

  const hasSecondFactor = async (accountId: string) =>
    (await secondFactors.status(accountId)).totp || (await passkeys.list(accountId)).length > 0;

  /**
   * The second step's page, under a new state bound to this browser (the step in its sealed
   * cookie): a code when the account has TOTP (or sets it up), a passkey of the account when it
   * has one (its challenge kept in the step).
   */
  async function secondStep(
    reply: FastifyReply,
    provider: PasswordProvider,
    login: LoginRequest,
    pending: SecondStep,
    problem?: string,
    status = 200,
    headers: Record<string, string> = {},
  ) {
    const withPasskeys = !pending.enrol && (await passkeys.list(pending.accountId)).length > 0;
    const options = withPasskeys ? await passkeys.authenticationOptions(pending.accountId) : undefined;
    const step: SecondStep = { ...pending, passkeyChallenge: options?.challenge };
    const state = await continueLogin(ctx, reply, login, { secondStep: JSON.stringify(step) });
    const enrol = step.enrol && { qr: await qrSvg(step.enrol.uri), secret: step.enrol.secret };
    const action = secondStepPath(provider);
    const passkey: PasskeyFormView | undefined = options && {
      action,
      ceremony: 'authenticate',
      options,
      fields: { state },
      label: 'Use a passkey',
      scripts: passkeyScripts,
    };
    const code = Boolean(step.enrol) || (await secondFactors.status(step.accountId)).totp;
    return page(
      reply.headers(headers),
      status,
      secondFactorForm({ action, fields: { state }, signingIn: true, problem, enrol, code, passkey }),
      formTargets,
      passkey?.scripts,
    );
  }

  /** POST /.auth/login/{provider}/passkey: a sign-in by a passkey alone (discoverable, the user verified). */
  async function passkey(request: FastifyRequest, reply: FastifyReply, provider: PasswordProvider) {
    const form = await readOwnForm(ctx, request, reply, undefined, 'Sign-in refused');
    if ('answered' in form) return form.answered;
    const state = form.get('state') ?? '';
    const taken = await takeLogin(ctx, request, reply, provider, state);
    if (!taken) return loginExpired(reply);
    const { login } = taken;
    const again = async (status: number, problem: string) =>
      showView(reply, status, provider, false, await continueLogin(ctx, reply, login), {
        problem,
        passkeyRefused: true,
      });
    const challenge = openChallenge(ctx, form.get('challenge') ?? '', ['sign-in', state]);
    if (!challenge) return again(400, 'That passkey sign-in took too long: try again.');
    const answer = passkeyAnswer<AuthenticationResponseJSON>(form);
    const asserted = answer && (await passkeys.verifyAuthentication(answer, challenge));
    const result = asserted?.ok ? await local.signedInAs(provider.id, asserted.accountId) : undefined;
    if (!asserted?.ok || !result) {
      const reason = !asserted
        ? 'no passkey answer'
        : !asserted.ok
          ? `passkey ${asserted.reason}: ${asserted.problem}`
          : 'passkey of an account of another provider';
      await signInHappened(
        ctx,
        request,
        {
          provider: provider.id,
          outcome: 'failed',
          method: 'passkey',
          account: asserted?.ok ? asserted.accountId : undefined,
          app: login.appId,
          reason,
        },
        'passkey sign-in failed',
      );
      return again(
        401,
        `No sign-in with that passkey: ${asserted && !asserted.ok ? asserted.problem : `it is not one of ${provider.displayName}`}.`,
      );
    }
    return signedInAt(ctx, request, reply, provider, login, withAmr(result, PASSKEY_AMR), 'passkey');
  }

  /** POST /.auth/login/{provider}/second-factor: the code of the second step (or setting one up). */
  async function secondFactor(request: FastifyRequest, reply: FastifyReply, provider: PasswordProvider) {
    const form = await readOwnForm(ctx, request, reply, undefined, 'Sign-in refused');
    if ('answered' in form) return form.answered;
    const taken = await takeLogin(ctx, request, reply, provider, form.get('state') ?? '');
    const pending = taken?.pending.secondStep;
    if (!taken || !pending) return loginExpired(reply);
    const { login } = taken;
    const step = JSON.parse(pending) as SecondStep;
    if (step.proven)
      return signedInAt(ctx, request, reply, provider, login, withAmr(step.result, step.proven), step.method);
    if (form.has('response')) return passkeySecondFactor(request, reply, provider, login, step, form);
    const code = form.get('code') ?? '';
    if (step.enrol) {
      const confirmed = await secondFactors.confirmTotp(step.accountId, step.enrol.secret, code);
      if (!confirmed.ok) return secondStep(reply, provider, login, step, `Not set up: ${confirmed.problem}.`, 400);
      await recordAudit(ctx, request, {
        kind: 'second-factor-added',
        outcome: 'success',
        accountId: step.accountId,
        actor: step.accountId,
        app: login.appId,
        detail: { factor: 'totp', at: 'sign-in' },
      });
      // The codes are shown once; the sign-in ends when the user has seen them.
      const state = await continueLogin(ctx, reply, login, {
        secondStep: JSON.stringify({ ...step, enrol: undefined, proven: MFA_AMR }),
      });
      return page(
        reply,
        200,
        recoveryCodesPage(confirmed.recoveryCodes, {
          action: secondStepPath(provider),
          fields: { state },
          label: 'I have kept them: continue',
        }),
        formTargets,
      );
    }
    const checked = await secondFactors.verify(step.accountId, code, clientAddressOf(request.raw));
    if (checked.ok) return signedInAt(ctx, request, reply, provider, login, withAmr(step.result, MFA_AMR), step.method);
    const throttled = checked.reason === 'throttled';
    const seconds = throttled ? Math.ceil(checked.retryAfterMs / 1000) : 0;
    await signInHappened(
      ctx,
      request,
      {
        provider: provider.id,
        outcome: throttled ? 'throttled' : 'failed',
        method: step.method,
        account: step.accountId,
        app: login.appId,
        reason: throttled ? `too many wrong codes: retry after ${seconds} s` : 'wrong second-factor code',
      },
      'second-factor code refused',
    );
    return throttled
      ? secondStep(reply, provider, login, step, `Too many wrong codes. Try again in ${waitInWords(seconds)}.`, 429, {
          'retry-after': String(seconds),
        })
      : secondStep(reply, provider, login, step, 'That code is not right.', 401);
  }

  /** The second step by a passkey of the account (its challenge in the step). */
  async function passkeySecondFactor(
    request: FastifyRequest,
    reply: FastifyReply,
    provider: PasswordProvider,
    login: LoginRequest,
    step: SecondStep,
    form: URLSearchParams,
  ) {
    const answer = passkeyAnswer<AuthenticationResponseJSON>(form);
    const asserted =
      answer && step.passkeyChallenge
        ? await passkeys.verifyAuthentication(answer, step.passkeyChallenge, step.accountId)
        : undefined;
    if (asserted?.ok)
      return signedInAt(ctx, request, reply, provider, login, withAmr(step.result, PASSWORD_PASSKEY_AMR), step.method);
    await signInHappened(
      ctx,
      request,
      {
        provider: provider.id,
        outcome: 'failed',
        method: step.method,
        account: step.accountId,
        app: login.appId,
        reason: asserted ? `passkey ${asserted.reason}: ${asserted.problem}` : 'no passkey answer',
      },
      'second-factor passkey refused',
    );
    return secondStep(
      reply,
      provider,
      login,
      step,
      `That passkey did not sign you in: ${asserted?.problem ?? 'no passkey was used'}.`,
      401,
    );
  }

  return { showForm, submit, secondFactor, passkey };
}

/** What a local sign-in carries from the password to its second step (sealed in the browser's login cookie). */
interface SecondStep {
  readonly accountId: string;
  readonly result: SignInResult;
  readonly method: 'password' | 'registration';
  /** A second factor being set up at this sign-in (the provider requires one): its secret and URI. */
  readonly enrol?: { readonly secret: string; readonly uri: string } | undefined;
  /** The step is done (set up, codes shown): what the sign-in proved. */
  readonly proven?: readonly string[] | undefined;
  /** The challenge of the passkey ceremony the step's page offers (the account has passkeys). */
  readonly passkeyChallenge?: string | undefined;
}

/** RFC 8176 methods of a password and a one-time code (the app's, or a recovery code): multi-factor. */
const MFA_AMR = ['pwd', 'otp', 'mfa'] as const;
/**
 * RFC 8176 methods of a passkey alone: proof of possession of its key (`pop`: SignOnce asks no
 * attestation, so it cannot tell `hwk` from `swk`, and synced passkeys are software keys), the user
 * verified by the authenticator (`user`; PIN or biometric, which it does not tell), so two factors (`mfa`).
 */
const PASSKEY_AMR = ['pop', 'user', 'mfa'] as const;
/** A password, then a passkey of the account (user verification not needed: it is the second factor). */
const PASSWORD_PASSKEY_AMR = ['pwd', 'pop', 'mfa'] as const;

const secondStepPath = (provider: PasswordProvider) => `/.auth/login/${encodeURIComponent(provider.id)}/second-factor`;

/** The result with the authentication methods (`amr`, RFC 8176) the sign-in proved, as claims apps receive. */
const withAmr = (result: SignInResult, amr: readonly string[]): SignInResult => ({
  ...result,
  claims: [...result.claims.filter((c) => c.typ !== 'amr'), ...toClaims({ amr: [...amr] })],
});
