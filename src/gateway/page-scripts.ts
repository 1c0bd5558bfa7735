// The only scripts SignOnce's pages load: @simplewebauthn/browser's bundle and SignOnce's own
// passkey script (static/passkeys.js), served as static files on the auth host. Read and hashed
// once at startup: each page that needs them names them with Subresource Integrity (sha384), and
// its CSP allows exactly them (pageHeaders); every other page stays script-free. No inline script.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyReply } from 'fastify';

export interface StaticScript {
  /** Its file name under /.auth/static/. */
  readonly name: string;
  readonly body: Buffer;
  /** The SRI value (`sha384-…`, W3C Subresource Integrity section 3.1), also its CSP hash source. */
  readonly integrity: string;
  /** In its URL, so that new bytes are a new URL: the old ones are cached for good. */
  readonly version: string;
}

/** A script as a page names it: where from (its URL carries a version: it is cached for good) and its integrity. */
export interface PageScript {
  readonly src: string;
  readonly integrity: string;
}

const STATIC_PATH = '/.auth/static/';

function staticScript(name: string, file: string | URL): StaticScript {
  const body = readFileSync(file);
  const digest = createHash('sha384').update(body).digest();
  return { name, body, integrity: `sha384-${digest.toString('base64')}`, version: digest.toString('hex').slice(0, 16) };
}

// The UMD bundle is not among the package's exports: found beside its CommonJS entry point.
const browserPackage = dirname(dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')));

/** In the order pages load them: the library defines SimpleWebAuthnBrowser, which passkeys.js uses. */
export const PASSKEY_SCRIPTS: readonly StaticScript[] = [
  staticScript('webauthn.js', join(browserPackage, 'dist', 'bundle', 'index.umd.min.js')),
  staticScript('passkeys.js', new URL('./static/passkeys.js', import.meta.url)),
];

/** How pages on the auth host (`authOrigin`) name the scripts. */
export const pageScripts = (authOrigin: string, scripts: readonly StaticScript[]): PageScript[] =>
  scripts.map((s) => ({
    src: `${authOrigin}${STATIC_PATH}${s.name}?v=${s.version}`,
    integrity: s.integrity,
  }));

/** GET /.auth/static/{name}: the script, cached for a year (its URL changes with its bytes); undefined for no such file. */
export function serveStaticScript(reply: FastifyReply, name: string): FastifyReply | undefined {
  const script = PASSKEY_SCRIPTS.find((s) => s.name === name);
  if (!script) return undefined;
  return reply
    .code(200)
    .headers({
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
      // Loaded with crossorigin (CORS mode) for SRI: a same-origin request needs no CORS header.
      'cross-origin-resource-policy': 'same-origin',
    })
    .send(script.body);
}
