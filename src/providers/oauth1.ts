// OAuth 1.0a, three-legged (RFC 5849 section 2), as Twitter's classic API uses it: request token,
// user authorization, access token; the token secret is kept beside the access token. Requests are
// signed HMAC-SHA1 by the oauth-1.0a library.
import { createHmac, timingSafeEqual } from 'node:crypto';
import OAuth from 'oauth-1.0a';
import { profileClaims } from './authentication-event.ts';
import { principalName, toClaims } from './claims.ts';
import { TIMEOUT_SECONDS, classify } from './oauth-common.ts';
import {
  ProviderError,
  type ClientTokens,
  type PendingSignIn,
  type Provider,
  type SignInResult,
  type ProviderIdentity,
} from './types.ts';

export interface OAuth1Settings extends ProviderIdentity {
  readonly requestTokenUrl: string;
  readonly authorizeUrl: string;
  readonly accessTokenUrl: string;
  readonly userinfoUrl?: string | undefined;
  readonly consumerKey: string;
  readonly consumerSecret?: string | undefined;
}

/** An OAuth 1.0a client for one consumer: HMAC-SHA1 signatures (RFC 5849 section 3.4.2). */
export function oauth1Client(key: string, secret: string): OAuth {
  return new OAuth({
    consumer: { key, secret },
    signature_method: 'HMAC-SHA1',
    hash_function: (base, signingKey) => createHmac('sha1', signingKey).update(base).digest('base64'),
  });
}

export class OAuth1Provider implements Provider {
  readonly id: string;
  readonly type: string;
  readonly displayName: string;
  readonly #settings: OAuth1Settings;
  readonly #oauth: OAuth;

  constructor(settings: OAuth1Settings) {
    this.id = settings.id;
    this.type = settings.type;
    this.displayName = settings.displayName;
    this.#settings = settings;
    this.#oauth = oauth1Client(settings.consumerKey, settings.consumerSecret ?? '');
  }

  /** A signed request; `parameters` are protocol parameters (oauth_callback, oauth_verifier). */
  async #signed(
    method: 'GET' | 'POST',
    url: string,
    token?: OAuth.Token,
    parameters: Record<string, string> = {},
  ): Promise<Response> {
    const authorization = { ...this.#oauth.authorize({ url, method, data: parameters }, token), ...parameters };
    const response = await fetch(url, {
      method,
      headers: {
        ...this.#oauth.toHeader(authorization),
        accept: 'application/json, application/x-www-form-urlencoded',
      },
      signal: AbortSignal.timeout(TIMEOUT_SECONDS * 1000),
    });
    // 401: the provider refused the credentials (RFC 5849 section 3.2), a refusal, not a broken answer.
    if (!response.ok)
      throw new ProviderError(
        response.status === 401 ? 'denied' : 'invalid-response',
        `${new URL(url).pathname} answered ${response.status}`,
      );
    return response;
  }

  async #form(
    method: 'GET' | 'POST',
    url: string,
    token?: OAuth.Token,
    parameters?: Record<string, string>,
  ): Promise<URLSearchParams> {
    return new URLSearchParams(await (await this.#signed(method, url, token, parameters)).text());
  }

  async begin({ callbackUrl, state }: { callbackUrl: string; state: string }) {
    try {
      const callback = new URL(callbackUrl);
      callback.searchParams.set('state', state);
      const answer = await this.#form('POST', this.#settings.requestTokenUrl, undefined, {
        oauth_callback: callback.href,
      });
      const token = answer.get('oauth_token');
      const secret = answer.get('oauth_token_secret');
      // 1.0a: the provider must confirm the callback, or the session-fixation flaw of 1.0 is open.
      if (!token || !secret || answer.get('oauth_callback_confirmed') !== 'true') {
        throw new ProviderError(
          'invalid-response',
          'the request token answer is not OAuth 1.0a (no token, secret or callback confirmation)',
        );
      }
      const url = new URL(this.#settings.authorizeUrl);
      url.searchParams.set('oauth_token', token);
      return { url: url.href, pending: { token, secret } };
    } catch (error) {
      throw classify(error);
    }
  }

  async complete({ currentUrl, pending }: { currentUrl: URL; pending: PendingSignIn }): Promise<SignInResult> {
    const query = currentUrl.searchParams;
    if (query.has('denied')) throw new ProviderError('denied', 'access_denied');
    const token = query.get('oauth_token') ?? '';
    const verifier = query.get('oauth_verifier');
    const expected = Buffer.from(pending.token!);
    if (!verifier || token.length !== expected.length || !timingSafeEqual(Buffer.from(token), expected)) {
      throw new ProviderError(
        'invalid-response',
        'the callback does not carry the request token this sign-in started with',
      );
    }
    try {
      const access = await this.#form(
        'POST',
        this.#settings.accessTokenUrl,
        { key: pending.token!, secret: pending.secret! },
        { oauth_verifier: verifier },
      );
      const accessToken = access.get('oauth_token');
      const accessTokenSecret = access.get('oauth_token_secret');
      if (!accessToken || !accessTokenSecret)
        throw new ProviderError('invalid-response', 'the access token answer has no token or secret');
      return await this.#identify(accessToken, accessTokenSecret, access);
    } catch (error) {
      throw classify(error);
    }
  }

  /**
   * Client-directed sign-in (Twitter's access_token + access_token_secret): the profile request is
   * signed with this consumer's secret too, so only tokens issued to this consumer can succeed.
   */
  async signInWithTokens({
    access_token: accessToken,
    access_token_secret: accessTokenSecret,
  }: ClientTokens): Promise<SignInResult> {
    if (!accessToken || !accessTokenSecret)
      throw new ProviderError('denied', 'access_token and access_token_secret are required');
    if (!this.#settings.userinfoUrl)
      throw new ProviderError('denied', 'this provider has no userinfoUrl to check the tokens with');
    try {
      return await this.#identify(accessToken, accessTokenSecret);
    } catch (error) {
      throw classify(error);
    }
  }

  /** Who the access token belongs to: the profile at userinfoUrl (signed), else the access token answer. */
  async #identify(accessToken: string, accessTokenSecret: string, access?: URLSearchParams): Promise<SignInResult> {
    let profile: Record<string, unknown> = {};
    if (this.#settings.userinfoUrl) {
      profile = (await (
        await this.#signed('GET', this.#settings.userinfoUrl, { key: accessToken, secret: accessTokenSecret })
      ).json()) as Record<string, unknown>;
    }
    const subject = String(profile.id_str ?? profile.id ?? access?.get('user_id') ?? '');
    if (!subject)
      throw new ProviderError(
        'invalid-response',
        'neither the access token answer nor the profile identifies the user',
      );
    const scalars = Object.fromEntries(
      Object.entries(profile).filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v)),
    );
    const screenName = profile.screen_name ?? access?.get('screen_name');
    const claims = {
      ...profileClaims(scalars),
      sub: subject,
      ...(screenName ? { name: profile.name ?? screenName, preferred_username: screenName } : {}),
    };
    return {
      subject,
      name: principalName(claims, subject),
      claims: toClaims(claims),
      tokens: { accessToken, accessTokenSecret },
    };
  }
}
