// SignOnce's own pages in Chromium: accessibility checks with axe-core (WCAG 2.1 A and AA rules and
// axe's best practices), screenshots a person can look at (test-output/screenshots, git-ignored),
// the steps every page test takes (submit a form, fill the password form), and markup served as a
// SignOnce page is (its headers, CSP included).
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import jsQR from 'jsqr';
import { type TOTP, URI } from 'otpauth';
import type { Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { Keyring } from '../../src/crypto/keyring.ts';
import { pageHeaders } from '../../src/gateway/pages.ts';
import { openStore } from '../../src/store/index.ts';
import { launchChromium } from './chromium.ts';
import { startTestGateway, type Echo } from './gateway.ts';

const AXE_SOURCE = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SCREENSHOTS = fileURLToPath(new URL('../../test-output/screenshots/', import.meta.url));

/**
 * What axe finds wrong on the page, one line per rule and element ("rule: selector — help"); empty
 * when nothing. axe runs through the DevTools protocol (page.evaluate), which the pages' CSP
 * (no script at all) does not govern: the page is checked as served.
 */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  await page.evaluate(await AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<AxeResults> } })
      .axe;
    const results = await axe.run((globalThis as unknown as { document: unknown }).document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return results.violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')} — ${v.help}`));
  });
  return violations;
}

interface AxeResults {
  violations: Array<{ id: string; help: string; nodes: Array<{ target: string[] }> }>;
}

/** Saves a full-page screenshot as test-output/screenshots/NAME.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
}

/** The page passes axe, is under 50 KB (the budget), and is photographed as `name`. */
export async function checkPage(page: Page, name: string): Promise<void> {
  assert.deepEqual(await accessibilityProblems(page), [], `${name}: axe finds nothing`);
  const size = Buffer.byteLength(await page.content());
  assert.ok(size < 50_000, `${name}: ${size} bytes`);
  await screenshot(page, name);
}

/** Clicks `selector` and waits for the page the submission (or link) leads to. */
export const submit = (page: Page, selector: string) => Promise.all([page.waitForNavigation(), page.click(selector)]);

/** At a `password` provider's form: filled and sent. */
export async function passwordForm(page: Page, username: string, password: string): Promise<void> {
  assert.match(page.url(), /\/\.auth\/login\/[^/]+\/form\?state=/, await page.innerText('body'));
  await page.fill('#username', username);
  await page.fill('#password', password);
  await submit(page, 'button[type=submit]');
}

/** A page served as SignOnce serves its pages, and Chromium to look at it. */
export interface ServedPage {
  readonly url: string;
  /** A new tab at the page; what it logs, throws or pops up is collected in `problems`. */
  open(): Promise<{ page: Page; problems: string[] }>;
  close(): Promise<void>;
}

/** Serves one page (`body` inside <main> under an <h1> of `title`) with SignOnce's page headers, CSP included, on loopback. */
export async function servePageToChromium(title: string, body: string): Promise<ServedPage> {
  const server = createServer((_request, response) => {
    response.writeHead(200, pageHeaders());
    response.end(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><main><h1>${title}</h1>${body}</main></body></html>`,
    );
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const browser = await launchChromium();
  return {
    url,
    async open() {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (message) => problems.push(`${message.type()}: ${message.text()}`));
      page.on('pageerror', (error) => problems.push(`error: ${error.message}`));
      page.on('dialog', (dialog) => problems.push(`dialog: ${dialog.message()}`));
      await page.goto(url);
      return { page, problems };
    },
    async close() {
      await browser.close();
      server.close();
    },
  };
}

/**
 * The text of the QR code an element of the page draws, read as a phone reads it: from a
 * screenshot (PNG), decoded by jsQR. Undefined when no code can be read.
 */
export async function qrCodeOf(page: Page, selector: string): Promise<string | undefined> {
  const png = PNG.sync.read(await page.locator(selector).screenshot());
  // A UMD bundle: the default import is its module.exports, typed as the module (whose default it also has).
  const decoded = jsQR.default(new Uint8ClampedArray(png.data), png.width, png.height);
  // The bytes as UTF-8 (jsQR's `data` reads byte mode as Latin-1).
  return decoded ? Buffer.from(decoded.binaryData).toString('utf8') : undefined;
}

/** The code an authenticator app shows now for an `otpauth://` URI (RFC 6238). */
export const authenticatorCode = (uri: string, timestamp = Date.now()) =>
  (URI.parse(uri) as TOTP).generate({ timestamp });

/** Chromium, a test gateway built by `build` (startTestGateway) and its store opened: what page tests start with. */
export async function chromiumAndGateway(build: Parameters<typeof startTestGateway>[0]) {
  const browser = await launchChromium();
  const gw = await startTestGateway(build);
  const store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
  return {
    browser,
    gw,
    store,
    async close() {
      await browser.close();
      await store.close();
      await gw.close();
    },
  };
}

/** The authentication methods (`amr`, RFC 8176) the app at `page` (an echo upstream) received in X-MS-CLIENT-PRINCIPAL. */
export async function amrOf(page: Page): Promise<string[]> {
  const echo = JSON.parse(await page.innerText('body')) as Echo;
  const principal = JSON.parse(Buffer.from(String(echo.headers['x-ms-client-principal']), 'base64').toString()) as {
    claims: Array<{ typ: string; val: string }>;
  };
  return principal.claims.filter((c) => c.typ === 'amr').map((c) => c.val);
}
