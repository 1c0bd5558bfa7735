export { loadConfig, parseConfig, resolveConfigPath } from './loader.ts';
export { ConfigError, type Problem } from './problems.ts';
export { formatDuration, parseDuration } from './duration.ts';
export {
  redactStoreUrl,
  EXTERNAL_ALGORITHMS,
  type AccessRuleConfig,
  type ConditionConfig,
  type DefaultAuthorizationPolicyConfig,
  type AppConfig,
  type AppResource,
  type AcceptProviderTokensConfig,
  type ExternalIssuerConfig,
  type OidcClientConfig,
  type Config,
  type ProviderConfig,
} from './schema.ts';
