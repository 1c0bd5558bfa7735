// The pages of `password` providers, on the auth host: the sign-in form and, with
// allowRegistration, the registration form. They are the provider's "site": a sign-in started at
// /.auth/login/{p} lands here with its state, bound to the browser like any other (sign-in.ts),
// and ends the same way. A mistake shows the form again under a new state; the answer to a wrong
// password never says whether the user exists; guessing is throttled (429 with Retry-After).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PasswordProvider } from '../../providers/index.ts';
import { signInHappened } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { crossOrigin } from '../rules/cross-origin.ts';
import { page, queryParam, readBody } from '../http.ts';
import { errorPage, passwordForm } from '../pages.ts';
import { continueLogin, loginExpired, takeLogin } from './login-binding.ts';
import { signedInAt } from './sign-in.ts';

const FORM_LIMIT_BYTES = 8 * 1024;

export function passwordRoutes(ctx: GatewayContext) {
  const { localAccounts: local, publicUrl, formTargets, clientAddressOf, log } = ctx;

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
    if (crossOrigin(request.headers, publicUrl.host))
      return page(reply, 403, errorPage('Sign-in refused', 'This form can only be sent from its own page.'));
    if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? ''))
      return page(reply, 415, errorPage('Sign-in refused', 'The form was sent in a way SignOnce does not accept.'));
    const body = await readBody(request.raw, FORM_LIMIT_BYTES);
    if (body === undefined)
      return page(reply.header('connection', 'close'), 413, errorPage('Sign-in refused', 'The form is too large.'));
    const form = new URLSearchParams(body.toString('utf8'));
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
      return signedInAt(ctx, request, reply, provider, login, registered.result, 'registration');
    }
    const address = clientAddressOf(request.raw);
    const outcome = await local.signIn(provider.id, username, field('password'), address);
    if (outcome.ok) return signedInAt(ctx, request, reply, provider, login, outcome.result, 'password');
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

  return { showForm, submit };
}
