// Debian's Chromium, driven by playwright-core (never a downloaded browser). Browser tests skip with
// one line saying why when it is missing, except in CI (CI=true), where they must run.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.SIGNONCE_TEST_CHROMIUM ?? '/usr/bin/chromium';

export const chromiumSkipReason =
  existsSync(CHROMIUM) || process.env.CI
    ? undefined
    : `${CHROMIUM} not found (apt-get install -y chromium, or set SIGNONCE_TEST_CHROMIUM): browser tests skipped`;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-gpu',
    ],
  });
}
