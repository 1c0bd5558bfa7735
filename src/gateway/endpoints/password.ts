// The pages of `password` providers, on the auth host: the sign-in form and, with
// allowRegistration, the registration form. They are the provider's "site": a sign-in started at
// /.auth/login/{p} lands here with its state, bound to the browser like any other (sign-in.ts),
// and ends the same way. A mistake shows the form again under a new state; the answer to a wrong
// password never says whether the user exists; guessing is throttled (429 with Retry-After).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toClaims } from '../../providers/claims.ts';
import type { PasswordProvider, SignInResult } from '../../providers/index.ts';
import type { LoginRequest } from '../../session/codes.ts';
import { recordAudit, signInHappened } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { page, queryParam } from '../http.ts';
import { errorPage, passwordForm, recoveryCodesPage, secondFactorForm } from '../pages.ts';
import { qrSvg } from '../qr.ts';
import { readOwnForm } from './own-forms.ts';
import { continueLogin, loginExpired, takeLogin } from './login-binding.ts';
import { signedInAt } from './sign-in.ts';

export function passwordRoutes(ctx: GatewayContext) {
  const { localAccounts: local, secondFactors, formTargets, clientAddressOf, log } = ctx;

  const formPath = (provider: PasswordProvider, register: boolean) =>
    `/.auth/login/${encodeURIComponent(provider.id)}/${register ? 'register' : 'form'}`;

  function view(
    provider: PasswordProvider,
    register: boolean,
    state: string,
    extra: { username?: string; problem?: string } = {},
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
    return page(reply, 200, view(provider, register, queryParam(request, 'state') ?? ''), formTargets);
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
      return page(reply.headers(headers), status, view(provider, register, state, { username, problem }), formTargets);
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
      return again(429, `Too many failed attempts. Try again in ${seconds} second${seconds === 1 ? '' : 's'}.`, {
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
      if ((await secondFactors.status(proven.accountId)).totp) return secondStep(reply, provider, login, step);
      if (provider.mfa === 'required' || login.mfa)
        return secondStep(reply, provider, login, {
          ...step,
          enrol: secondFactors.beginTotp(proven.accountId, proven.result.name),
        });
    }
    return signedInAt(ctx, request, reply, provider, login, withAmr(proven.result, ['pwd']), method);
  }

  /** The second step's page, under a new state bound to this browser (the step in its sealed cookie). */
  async function secondStep(
    reply: FastifyReply,
    provider: PasswordProvider,
    login: LoginRequest,
    step: SecondStep,
    problem?: string,
    status = 200,
    headers: Record<string, string> = {},
  ) {
    const state = await continueLogin(ctx, reply, login, { secondStep: JSON.stringify(step) });
    const enrol = step.enrol && { qr: await qrSvg(step.enrol.uri), secret: step.enrol.secret };
    return page(
      reply.headers(headers),
      status,
      secondFactorForm({ action: secondStepPath(provider), fields: { state }, signingIn: true, problem, enrol }),
      formTargets,
    );
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
      ? secondStep(reply, provider, login, step, `Too many wrong codes. Try again in ${seconds} s.`, 429, {
          'retry-after': String(seconds),
        })
      : secondStep(reply, provider, login, step, 'That code is not right.', 401);
  }

  return { showForm, submit, secondFactor };
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
}

/** RFC 8176 methods of a password and a one-time code (the app's, or a recovery code): multi-factor. */
const MFA_AMR = ['pwd', 'otp', 'mfa'] as const;

const secondStepPath = (provider: PasswordProvider) => `/.auth/login/${encodeURIComponent(provider.id)}/second-factor`;

/** The result with the authentication methods (`amr`, RFC 8176) the sign-in proved, as claims apps receive. */
const withAmr = (result: SignInResult, amr: readonly string[]): SignInResult => ({
  ...result,
  claims: [...result.claims.filter((c) => c.typ !== 'amr'), ...toClaims({ amr: [...amr] })],
});
