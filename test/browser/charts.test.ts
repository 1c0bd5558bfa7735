// The dashboard's SVG charts (src/gateway/charts.ts) in Chromium: each hostile chart parsed by the
// browser's own XML parser (DOMParser, image/svg+xml), then all of them inline in one page served
// with SignOnce's page headers (CSP `default-src 'none'`): nothing is blocked or run, the counts
// read from the page are the counts drawn, and axe-core finds no accessibility violation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { breakdownChart, dayBars, hourBars, timeBarChart } from '../../src/gateway/charts.ts';
import { chromiumSkipReason } from '../support/chromium.ts';
import { accessibilityProblems, servePageToChromium, type ServedPage } from '../support/pages.ts';

const HOSTILE = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "it's & <b>bold</b> ]]> <!-- -->",
  'control \u0000\u0001\u001F and \uFFFE',
  'a lone \uD800 surrogate',
  `${'x'.repeat(10_240)}<script>`,
];
const hours = Array.from({ length: 24 }, (_, i) => ({ start: Date.UTC(2026, 11, 6, i), count: (i * 7) % 11 }));
const days = Array.from({ length: 7 }, (_, i) => ({ start: Date.UTC(2026, 11, i + 1), count: i === 3 ? 2 ** 40 : 0 }));
const text = (id: string, title: string) =>
  ({ id, title, description: `${title}.`, noun: ['event', 'events'], what: 'reasons' }) as const;
const CHARTS = [
  timeBarChart(text('per-hour', 'Sign-ins per hour'), hourBars(hours)),
  timeBarChart(text('per-day', 'Sign-ins per day'), dayBars(days)),
  timeBarChart(
    text('hostile-time', 'Hostile <labels>'),
    HOSTILE.map((label, i) => ({ label, count: i })),
  ),
  breakdownChart(text('empty', 'Nothing'), []),
  breakdownChart(
    text('many', 'A hundred reasons'),
    Array.from({ length: 100 }, (_, i) => ({ label: `${HOSTILE[i % HOSTILE.length]} ${i}`, count: 100 - i })),
  ),
];
const COUNTS = [
  hours.map((bar) => bar.count),
  days.map((bar) => bar.count),
  [0, 1, 2, 3, 4, 5],
  [],
  Array.from({ length: 10 }, (_, i) => 100 - i),
];

let served: ServedPage | undefined;

before(async () => {
  if (chromiumSkipReason) return;
  served = await servePageToChromium('Dashboard', CHARTS.map((chart) => `<figure>${chart}</figure>`).join(''));
});
after(() => served?.close());

test('charts in Chromium: well-formed XML, nothing blocked or run under the page CSP, counts read back, no axe violation', {
  skip: chromiumSkipReason,
}, async () => {
  const { page, problems } = await served!.open();

  for (const [i, chart] of CHARTS.entries()) {
    const parsed = await page.evaluate((svg) => {
      // This runs in the page, where DOMParser is; the test's TypeScript lib has no DOM.
      const { DOMParser } = globalThis as unknown as {
        DOMParser: new () => {
          parseFromString(
            source: string,
            type: string,
          ): {
            getElementsByTagName(name: string): ArrayLike<{ textContent: string | null }>;
            documentElement: { namespaceURI: string | null };
          };
        };
      };
      const document = new DOMParser().parseFromString(svg, 'image/svg+xml');
      return {
        errors: Array.from(document.getElementsByTagName('parsererror'), (error) => error.textContent),
        root: document.documentElement.namespaceURI,
      };
    }, chart);
    assert.deepEqual(parsed, { errors: [], root: 'http://www.w3.org/2000/svg' }, `chart ${i} as XML`);
  }
  const counts = await page.$$eval('figure', (figures) =>
    figures.map((figure) => [...figure.querySelectorAll('rect')].map((rect) => Number(rect.dataset.count))),
  );
  assert.deepEqual(counts, COUNTS);
  assert.equal(await page.$$eval('script, img, b', (found) => found.length), 0, 'no label became markup');

  assert.deepEqual(await accessibilityProblems(page), []);
  assert.deepEqual(problems, [], 'no CSP violation, error or dialog');
  await page.close();
});
