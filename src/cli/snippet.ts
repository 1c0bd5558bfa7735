// `signonce snippet nginx|caddy|traefik|envoy --app ID`: the configuration of a proxy of the
// operator's in front of a forward-auth app (docs/forward-auth.md), from the app's config.
import type { Config } from '../config/index.ts';
import { identityHeaderNames } from '../session/principal.ts';
import { PROXY_KINDS, proxySnippet, type ProxyKind } from './proxy-snippets.ts';
import { parseCommandLine, usageError, withConfig } from './usage.ts';

export const usage = [
  'signonce snippet nginx|caddy|traefik|envoy --app ID [--config FILE] [--upstream URL] [--signonce URL] [--listen PORT]',
  '                          the configuration of that proxy in front of a forward-auth app: it asks /.auth/verify',
  "                          before each request and hands the app SignOnce's headers (docs/forward-auth.md)",
].join('\n  ');

const httpUrl = (text: string) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol);

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      app: { type: 'string' },
      config: { type: 'string' },
      upstream: { type: 'string' },
      signonce: { type: 'string' },
      listen: { type: 'string' },
    },
    usage,
  );
  if (!parsed) return 2;
  const { values, positionals } = parsed;
  const [kind, ...extra] = positionals;
  if (!PROXY_KINDS.includes(kind as ProxyKind) || extra.length)
    return usageError(usage, `name one proxy: ${PROXY_KINDS.join(', ')}`);
  const appId = values.app;
  if (!appId) return usageError(usage, '--app ID is required');
  for (const option of ['upstream', 'signonce'] as const)
    if (values[option] !== undefined && !httpUrl(values[option]))
      return usageError(usage, `--${option} ${JSON.stringify(values[option])} is not an http(s) URL`);
  const listen = Number(values.listen ?? 80);
  if (!Number.isInteger(listen) || listen < 1 || listen > 65535)
    return usageError(usage, `--listen ${JSON.stringify(values.listen)} is not a port`);

  return withConfig(values.config, async (config) => {
    const snippet = snippetFor(kind as ProxyKind, config, appId, {
      upstream: values.upstream,
      signonce: values.signonce,
      listen,
    });
    if ('problem' in snippet) {
      process.stderr.write(`signonce snippet: ${snippet.problem}\n`);
      return 2;
    }
    process.stdout.write(snippet.text);
    return 0;
  });
}

/** The snippet of `kind` for the app `appId` of `config`, or what keeps it from being written. */
export function snippetFor(
  kind: ProxyKind,
  config: Config,
  appId: string,
  options: { upstream?: string; signonce?: string; listen: number },
): { text: string } | { problem: string } {
  const index = config.apps.findIndex((a) => a.id === appId);
  const app = config.apps[index];
  if (!app)
    return { problem: `no app ${JSON.stringify(appId)} (known: ${config.apps.map((a) => a.id).join(', ') || 'none'})` };
  if (app.mode !== 'forwardAuth')
    return {
      problem: `apps[${index}] (${app.id}) is proxied by SignOnce itself; give it mode: forwardAuth to put a proxy of yours in front of it`,
    };
  const upstream = options.upstream ?? app.upstream;
  if (!upstream)
    return {
      problem: `where does the proxy send ${app.id}'s requests? Give --upstream URL, or upstream: in apps[${index}]`,
    };
  // SignOnce as the proxy reaches it: its listen address (a wildcard one reached on loopback).
  const { host, port } = config.listen;
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    text: proxySnippet(kind, {
      appId: app.id,
      hosts: app.hosts,
      headers: identityHeaderNames(
        app.resources,
        config.providers.map((p) => p.id),
      ),
      signonce: new URL(options.signonce ?? `http://${reachable}:${port}`),
      upstream: new URL(upstream),
      listen: options.listen,
    }),
  };
}
