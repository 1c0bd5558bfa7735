// The demo's sample app: a page listing who the gateway says the user is (the identity headers it
// received), so a newcomer sees what an app behind SignOnce gets.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { escapeHtml } from '../gateway/pages.ts';

function principalFromHeader(value: string | undefined): unknown {
  if (!value) return undefined;
  try {
    return JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
  } catch {
    return `(not base64 JSON: ${value})`;
  }
}

function page(name: string, headers: Record<string, string | string[] | undefined>): string {
  const identity = Object.entries(headers).filter(([key]) => key.startsWith('x-ms-'));
  const rows = identity.map(
    ([key, value]) => `<tr><th>${escapeHtml(key)}</th><td><code>${escapeHtml(String(value))}</code></td></tr>`,
  );
  const principal = principalFromHeader(headers['x-ms-client-principal'] as string | undefined);
  return `<!doctype html><meta charset="utf-8"><title>${escapeHtml(name)}</title>
<h1>${escapeHtml(name)}</h1>
<p>${identity.length ? `Signed in as <b>${escapeHtml(String(headers['x-ms-client-principal-name'] ?? '?'))}</b>.` : 'Anonymous: no identity headers.'}
 <a href="/.auth/me">/.auth/me</a> · <a href="/.auth/logout">sign out</a></p>
<table>${rows.join('')}</table>
${principal ? `<h2>X-MS-CLIENT-PRINCIPAL, decoded</h2><pre>${escapeHtml(JSON.stringify(principal, null, 2))}</pre>` : ''}`;
}

/** Starts a sample app on a free loopback port. */
export async function startSampleApp(name: string): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    response.end(page(name, request.headers));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
