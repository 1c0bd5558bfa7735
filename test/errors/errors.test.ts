// One error shape (src/errors): every error class SignOnce throws to its callers is a CodedError
// with a stable code of its own, on the class and on each instance, its class name as `name`,
// and the `cause` it was given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodedError } from '../../src/errors/index.ts';
import { AccountDisabledError } from '../../src/accounts/accounts.ts';
import { ExternalTokenRefused, IssuerUnavailable } from '../../src/accounts/external-issuers.ts';
import { ConfigError } from '../../src/config/problems.ts';
import { SealedValueError } from '../../src/crypto/keyring.ts';
import { ProviderError } from '../../src/providers/index.ts';
import { RefreshError } from '../../src/refresh/refresher.ts';
import { TokenRefused } from '../../src/session/authentication-tokens.ts';
import { TargetNotEmptyError } from '../../src/store/copy.ts';
import {
  IdentityConflictError,
  LastIdentityError,
  StoreUnavailableError,
  UsernameTakenError,
} from '../../src/store/index.ts';

const cause = new Error('the underlying failure');

// [class, an instance, whether the instance was given `cause`]
const ERRORS: Array<[{ name: string; code: string }, CodedError, boolean]> = [
  [RefreshError, new RefreshError('refused', 'refused by the provider', { cause }), true],
  [ProviderError, new ProviderError('unreachable', 'timed out', { cause }), true],
  [ConfigError, new ConfigError('signonce.yaml', [{ path: 'apps', message: 'required' }]), false],
  [SealedValueError, new SealedValueError('unauthentic', 'altered'), false],
  [TokenRefused, new TokenRefused('expired', 'the token expired'), false],
  [TargetNotEmptyError, new TargetNotEmptyError({ sessions: 1 }), false],
  [IdentityConflictError, new IdentityConflictError('github'), false],
  [UsernameTakenError, new UsernameTakenError(), false],
  [LastIdentityError, new LastIdentityError(), false],
  [StoreUnavailableError, new StoreUnavailableError('connection refused', { cause }), true],
  [AccountDisabledError, new AccountDisabledError('account-1'), false],
  [ExternalTokenRefused, new ExternalTokenRefused('expired'), false],
  [IssuerUnavailable, new IssuerUnavailable('partner', 'keys not fetched', { cause }), true],
];

test('every error class is a CodedError with a stable code of its own, on the class and the instance', () => {
  for (const [errorClass, error, hasCause] of ERRORS) {
    assert.ok(error instanceof CodedError && error instanceof Error, errorClass.name);
    assert.match(errorClass.code, /^ERR_[A-Z_]+$/, errorClass.name);
    assert.equal(error.code, errorClass.code, errorClass.name);
    assert.equal(error.name, errorClass.name);
    assert.equal(error.cause, hasCause ? cause : undefined, errorClass.name);
  }
  const codes = ERRORS.map(([errorClass]) => errorClass.code);
  assert.equal(new Set(codes).size, codes.length, `codes not distinct: ${codes.join(', ')}`);
});

test('the codes are the published ones (callers compare them: a change breaks them)', () => {
  assert.deepEqual(Object.fromEntries(ERRORS.map(([errorClass]) => [errorClass.name, errorClass.code])), {
    RefreshError: 'ERR_REFRESH_FAILED',
    ProviderError: 'ERR_PROVIDER',
    ConfigError: 'ERR_CONFIG',
    SealedValueError: 'ERR_SEALED_VALUE',
    TokenRefused: 'ERR_TOKEN_REFUSED',
    TargetNotEmptyError: 'ERR_TARGET_NOT_EMPTY',
    IdentityConflictError: 'ERR_IDENTITY_CONFLICT',
    UsernameTakenError: 'ERR_USERNAME_TAKEN',
    LastIdentityError: 'ERR_LAST_IDENTITY',
    StoreUnavailableError: 'ERR_STORE_UNAVAILABLE',
    AccountDisabledError: 'ERR_ACCOUNT_DISABLED',
    ExternalTokenRefused: 'ERR_EXTERNAL_TOKEN_REFUSED',
    IssuerUnavailable: 'ERR_ISSUER_UNAVAILABLE',
  });
});

test('the kinds within a class stay where callers read them', () => {
  assert.equal(new RefreshError('limited', 'wait', { retryAfterMs: 1500 }).retryAfterMs, 1500);
  assert.equal(new ProviderError('denied', 'no').kind, 'denied');
  assert.equal(new SealedValueError('unknown-key', 'which key').reason, 'unknown-key');
  assert.equal(new TokenRefused('wrong-audience', 'not here').reason, 'wrong-audience');
  assert.equal(new IssuerUnavailable('partner', 'down').issuer, 'partner');
});
