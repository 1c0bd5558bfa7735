// The enrolment QR code (src/gateway/qr.ts) read back as a phone reads it: drawn by Chromium in a
// page served with SignOnce's page headers (CSP `default-src 'none'`), the element screenshot
// decoded with jsQR (PNG read by pngjs) gives back the exact text; nothing is blocked or run, and
// axe-core finds no accessibility problem.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { qrSvg } from '../../src/gateway/qr.ts';
import { chromiumSkipReason } from '../support/chromium.ts';
import { accessibilityProblems, qrCodeOf, servePageToChromium, type ServedPage } from '../support/pages.ts';

const TEXTS = [
  // What beginTotp makes: a key URI with a 160-bit secret.
  'otpauth://totp/SignOnce:ann%40example.com?issuer=SignOnce&secret=NTCAU2YS52KDE7J3OHN4QHLXTJTRNEVD&algorithm=SHA1&digits=6&period=30',
  // A long issuer and label, percent-encoded as otpauth encodes them.
  `otpauth://totp/${encodeURIComponent('Ünïcödé Corp — SSO')}:${encodeURIComponent('a'.repeat(120))}?issuer=${encodeURIComponent('Ünïcödé Corp — SSO')}&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=6&period=30`,
  'Ünïcödé text, <markup> & "quotes"',
];

let served: ServedPage | undefined;

before(async () => {
  if (chromiumSkipReason) return;
  const figures = await Promise.all(
    TEXTS.map(async (text, i) => `<figure id="qr-${i}">${await qrSvg(text, { label: `QR code ${i}` })}</figure>`),
  );
  served = await servePageToChromium('QR codes', figures.join(''));
});
after(() => served?.close());

test('QR codes in Chromium under the page CSP decode back to their text, as a phone reads them', {
  skip: chromiumSkipReason,
}, async () => {
  const { page, problems } = await served!.open();
  for (const [i, text] of TEXTS.entries()) {
    assert.equal(await qrCodeOf(page, `#qr-${i} svg`), text, `QR code ${i} is read`);
    assert.equal(await page.getByRole('img', { name: `QR code ${i}` }).count(), 1);
  }
  assert.deepEqual(await accessibilityProblems(page), []);
  assert.deepEqual(problems, [], 'nothing blocked by the CSP, nothing logged');
  await page.close();
});
