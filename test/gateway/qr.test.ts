// The QR code's markup (src/gateway/qr.ts), read as text: what a page under `default-src 'none'`
// may hold (elements svg, rect and path, attributes only), accessible as one image, and its label
// escaped. test/browser/qr.test.ts decodes what Chromium draws of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qrSvg } from '../../src/gateway/qr.ts';

const URI =
  'otpauth://totp/SignOnce:ann%40example.com?issuer=SignOnce&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30';

test('qrSvg: svg, rect and path only, presentation attributes, role="img" and an aria-label, a 4-module quiet zone', async () => {
  const svg = await qrSvg(URI);
  assert.deepEqual([...new Set([...svg.matchAll(/<([a-z]+)/g)].map((m) => m[1]))], ['svg', 'rect', 'path']);
  const attributes = new Set([...svg.matchAll(/ ([a-zA-Z:-]+)="/g)].map((m) => m[1]));
  assert.deepEqual(
    [...attributes].sort(),
    ['aria-label', 'd', 'fill', 'height', 'role', 'shape-rendering', 'viewBox', 'width', 'xmlns'].sort(),
  );
  assert.match(svg, /^<svg [^>]*role="img" aria-label="QR code"/);
  const [, side] = /viewBox="0 0 (\d+) \1"/.exec(svg)!;
  // A version 1 to 40 code is 21 to 177 modules a side; four on each side are quiet.
  assert.ok(Number(side) >= 29 && Number(side) <= 185 && (Number(side) - 8 - 21) % 4 === 0, side);
  const d = /<path fill="#000000" d="([^"]*)"/.exec(svg)![1]!;
  const starts = [...d.matchAll(/M(\d+) (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.ok(starts.every(([x, y]) => x! >= 4 && y! >= 4 && x! < Number(side) - 4 && y! < Number(side) - 4));
});

test('qrSvg: the label is escaped; text no QR code can hold is refused', async () => {
  const svg = await qrSvg('x', { label: '"><script>alert(1)</script>' });
  assert.ok(!svg.includes('<script'));
  assert.match(svg, /aria-label="&#34;&#62;&#60;script&#62;alert\(1\)&#60;\/script&#62;"/);
  await assert.rejects(qrSvg('x'.repeat(3000)));
});
