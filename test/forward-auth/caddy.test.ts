// Forward-auth behind real Caddy (forward_auth), with the configuration `signonce snippet caddy` prints.
import { caddySkipReason, startCaddy } from '../support/proxies.ts';
import { forwardAuthSuite } from './suite.ts';

forwardAuthSuite('caddy', caddySkipReason, startCaddy, (snippet) => snippet.replaceAll(':80 {', ':{{port}} {'));
