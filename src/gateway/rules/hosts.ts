// Which app a request is for, by its Host header (RFC 9110 section 7.2). Hosts are compared in
// lower case; an app host given without a port matches any port.
import type { AppConfig, Config } from '../../config/index.ts';

export type HostRoute = { kind: 'app'; app: AppConfig; host: string } | { kind: 'auth' } | { kind: 'unknown' };

export function hostRouter(config: Config): (hostHeader: string | undefined) => HostRoute {
  const exact = new Map<string, AppConfig>();
  const anyPort = new Map<string, AppConfig>();
  for (const app of config.apps) {
    for (const host of app.hosts) (host.includes(':') ? exact : anyPort).set(host, app);
  }
  const authHost = new URL(config.publicUrl).host;
  return (hostHeader) => {
    const host = (hostHeader ?? '').toLowerCase();
    if (host === authHost) return { kind: 'auth' };
    const app = exact.get(host) ?? anyPort.get(host.replace(/:\d+$/, ''));
    return app ? { kind: 'app', app, host } : { kind: 'unknown' };
  };
}
