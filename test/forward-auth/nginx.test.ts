// Forward-auth behind real nginx (auth_request), with the configuration `signonce snippet nginx` prints.
import { nginxSkipReason, startNginx } from '../support/proxies.ts';
import { forwardAuthSuite } from './suite.ts';

forwardAuthSuite('nginx', nginxSkipReason, startNginx, (snippet) =>
  snippet.replace(/^ {4}listen 80;$/m, '    listen 127.0.0.1:{{port}};'),
);
