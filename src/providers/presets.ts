// Well-known providers as data: a base type and the fields it fills in. Any field given in the
// config overrides the preset's (tests point presets at local servers this way).

export interface Preset {
  readonly base: 'oidc' | 'oauth2' | 'oauth1';
  readonly displayName: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export const PRESETS: Readonly<Record<string, Preset>> = {
  google: {
    base: 'oidc',
    displayName: 'Google',
    fields: {
      issuer: 'https://accounts.google.com',
      scopes: ['openid', 'profile', 'email'],
    },
  },
  // Multi-tenant apps must still name a tenant's issuer (…/{tenant-id}/v2.0): ID tokens carry it.
  aad: {
    base: 'oidc',
    displayName: 'Microsoft Entra ID',
    fields: {
      issuer: 'https://login.microsoftonline.com/common/v2.0',
      scopes: ['openid', 'profile', 'email', 'offline_access'],
      graphUrl: 'https://graph.microsoft.com',
    },
  },
  // Personal Microsoft accounts all sign in through the consumers tenant.
  microsoftaccount: {
    base: 'oidc',
    displayName: 'Microsoft account',
    fields: {
      issuer: 'https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0',
      scopes: ['openid', 'profile', 'email', 'offline_access'],
    },
  },
  apple: {
    base: 'oidc',
    displayName: 'Apple',
    fields: {
      issuer: 'https://appleid.apple.com',
      scopes: ['openid', 'email', 'name'],
      authorizationParams: { response_mode: 'form_post' },
    },
  },
  facebook: {
    base: 'oauth2',
    displayName: 'Facebook',
    fields: {
      authorizationUrl: 'https://www.facebook.com/v19.0/dialog/oauth',
      tokenUrl: 'https://graph.facebook.com/v19.0/oauth/access_token',
      userinfoUrl: 'https://graph.facebook.com/me?fields=id,name,email',
      scopes: ['public_profile', 'email'],
      claims: { id: 'id', name: 'name', email: 'email' },
    },
  },
  github: {
    base: 'oauth2',
    displayName: 'GitHub',
    fields: {
      authorizationUrl: 'https://github.com/login/oauth/authorize',
      tokenUrl: 'https://github.com/login/oauth/access_token',
      userinfoUrl: 'https://api.github.com/user',
      scopes: ['read:user', 'user:email'],
      claims: { id: 'id', name: 'login', email: 'email' },
      orgsUrl: 'https://api.github.com/user/orgs',
      teamsUrl: 'https://api.github.com/user/teams',
    },
  },
  twitter: {
    base: 'oauth1',
    displayName: 'X (Twitter)',
    fields: {
      requestTokenUrl: 'https://api.twitter.com/oauth/request_token',
      authorizeUrl: 'https://api.twitter.com/oauth/authenticate',
      accessTokenUrl: 'https://api.twitter.com/oauth/access_token',
      userinfoUrl: 'https://api.twitter.com/1.1/account/verify_credentials.json?include_email=true',
    },
  },
};
