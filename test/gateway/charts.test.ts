// The dashboard's SVG charts (src/gateway/charts.ts) with hostile inputs: zero everywhere, one
// huge value, 100 reasons, labels that are markup, quotes, control characters, lone surrogates
// and 10 KB long. Each output is checked as XML 1.0 would take it (no XML parser is installed: a
// strict tokenizer below; test/browser/charts.test.ts parses them with Chromium's), for the
// elements a page under `default-src 'none'` may hold, its accessible name and description, each
// bar's title and data-count, its size, and the contrast of its colours against white (WCAG 2.2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BREAKDOWN_MAX_BARS,
  CHART_COLOURS,
  breakdownChart,
  dayBars,
  hourBars,
  timeBarChart,
  type ChartBar,
} from '../../src/gateway/charts.ts';

const HOSTILE_LABELS = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "it's & <b>bold</b> ]]> <!-- -->",
  'control \u0000\u0001\u0008\u000B\u001F and \uFFFE\uFFFF',
  'a lone \uD800 surrogate and a pair 😀',
  `${'x'.repeat(10_240)}<script>`,
];
const TEXT = {
  id: 'chart',
  title: 'Sign-ins per hour',
  description: 'Sign-ins (UTC).',
  noun: ['sign-in', 'sign-ins'],
} as const;
const BREAKDOWN = { ...TEXT, title: 'Failures by reason', noun: ['failure', 'failures'], what: 'reasons' } as const;

const ELEMENTS = new Set(['svg', 'title', 'desc', 'line', 'text', 'rect']);
// Characters XML 1.0 (section 2.2) does not allow anywhere in a document.
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDFFF]/u;
const ENTITY = /&(?:#\d+|#x[0-9a-f]+|amp|lt|gt|quot|apos);/gi;

interface Element {
  readonly name: string;
  readonly attributes: Record<string, string>;
  readonly children: Element[];
  text: string;
}

/** A strict reading of the markup as XML: every tag closed in order, attributes quoted, text escaped. */
function parse(svg: string): Element {
  assert.doesNotMatch(svg, NOT_XML, 'a character XML forbids');
  const root: Element = { name: '#root', attributes: {}, children: [], text: '' };
  const stack = [root];
  const tokens = svg.split(/(<[^>]*>)/);
  for (const token of tokens) {
    if (!token) continue;
    const top = stack.at(-1)!;
    if (!token.startsWith('<')) {
      assert.doesNotMatch(token.replace(ENTITY, ''), /[<>&]/, `unescaped text: ${token.slice(0, 80)}`);
      top.text += token;
      continue;
    }
    const close = /^<\/([a-z]+)>$/.exec(token);
    if (close) {
      assert.equal(close[1], top.name, `</${close[1]}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const open = /^<([a-z]+)((?: [a-zA-Z][a-zA-Z0-9-]*="[^"<]*")*)\s*(\/?)>$/.exec(token);
    assert.ok(open, `not a well-formed tag: ${token.slice(0, 120)}`);
    const attributes: Record<string, string> = {};
    for (const [, name, value] of open[2]!.matchAll(/ ([a-zA-Z][a-zA-Z0-9-]*)="([^"<]*)"/g)) {
      assert.ok(!(name! in attributes), `attribute ${name} twice`);
      assert.doesNotMatch(value!.replace(ENTITY, ''), /[&]/, `unescaped attribute ${name}`);
      attributes[name!] = value!;
    }
    const element: Element = { name: open[1]!, attributes, children: [], text: '' };
    top.children.push(element);
    if (!open[3]) stack.push(element);
  }
  assert.equal(stack.length, 1, 'every element closed');
  assert.equal(root.children.length, 1, 'one root element');
  assert.equal(root.text.trim(), '', 'nothing outside the root');
  return root.children[0]!;
}

const all = (element: Element): Element[] => [element, ...element.children.flatMap(all)];
const decode = (text: string) =>
  text.replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code))).replace(/&amp;/g, '&');

/** What a page under SignOnce's CSP may embed, accessible, with a title and data-count per bar; the bars' counts. */
function check(svg: string, id: string): Array<{ count: number; title: string; label: string }> {
  const root = parse(svg);
  const elements = all(root);
  assert.equal(root.name, 'svg');
  assert.equal(root.attributes.xmlns, 'http://www.w3.org/2000/svg');
  for (const element of elements) {
    assert.ok(ELEMENTS.has(element.name), `<${element.name}> is not drawn by charts`);
    for (const name of Object.keys(element.attributes))
      assert.ok(!/^on|^href$|^style$|^src$/.test(name), `attribute ${name} on <${element.name}>`);
    for (const value of Object.values(element.attributes)) assert.doesNotMatch(value, /url\(|javascript:/i);
  }
  assert.equal(root.attributes.role, 'img');
  assert.equal(root.attributes['aria-labelledby'], `${id}-title`);
  assert.equal(root.attributes['aria-describedby'], `${id}-desc`);
  assert.deepEqual(
    root.children.slice(0, 2).map((child) => [child.name, child.attributes.id]),
    [
      ['title', `${id}-title`],
      ['desc', `${id}-desc`],
    ],
    'the title and description come first',
  );
  const ids = elements.map((element) => element.attributes.id).filter(Boolean);
  assert.equal(new Set(ids).size, ids.length, 'ids are unique');
  return elements
    .filter((element) => element.name === 'rect')
    .map((rect) => {
      assert.match(rect.attributes['data-count']!, /^\d+$/);
      assert.equal(rect.children.length, 1);
      assert.equal(rect.children[0]!.name, 'title');
      return {
        count: Number(rect.attributes['data-count']),
        title: decode(rect.children[0]!.text),
        label: decode(rect.attributes['data-label']!),
      };
    });
}

test('timeBarChart: 24 hours or 7 days, every bar with its count and title; hostile input stays text', () => {
  const hours = Array.from({ length: 24 }, (_, i) => ({ start: Date.UTC(2026, 11, 6, i), count: i }));
  const cases: Array<[name: string, bars: ChartBar[], counts: number[]]> = [
    ['24 hours', hourBars(hours), hours.map((bar) => bar.count)],
    [
      '7 days',
      dayBars(Array.from({ length: 7 }, (_, i) => ({ start: Date.UTC(2026, 11, i + 1), count: 7 - i }))),
      [7, 6, 5, 4, 3, 2, 1],
    ],
    ['zero everywhere', hourBars(hours.map((bar) => ({ ...bar, count: 0 }))), Array(24).fill(0)],
    [
      'one huge value',
      [
        { label: 'a', count: 2 ** 40 },
        { label: 'b', count: 1 },
      ],
      [2 ** 40, 1],
    ],
    [
      'counts that are no counts',
      [-1, Number.NaN, Number.POSITIVE_INFINITY, 2.7].map((count, i) => ({ label: `${i}`, count })),
      [0, 0, 0, 2],
    ],
    ['hostile labels', HOSTILE_LABELS.map((label, i) => ({ label, count: i })), [0, 1, 2, 3, 4, 5]],
    ['no bars', [], []],
  ];
  for (const [name, bars, counts] of cases) {
    const svg = timeBarChart(TEXT, bars);
    const drawn = check(svg, 'chart');
    assert.deepEqual(
      drawn.map((bar) => bar.count),
      counts,
      name,
    );
    assert.ok(svg.length < 8192, `${name}: ${svg.length} characters`);
    for (const [i, bar] of drawn.entries()) assert.match(bar.title, /: [\d,]+ sign-ins?$/, `${name}: bar ${i}`);
  }
  const first = check(timeBarChart(TEXT, hourBars(hours)), 'chart')[14]!;
  assert.deepEqual(first, { count: 14, title: '14:00: 14 sign-ins', label: '14:00' });
  assert.equal(check(timeBarChart(TEXT, [{ label: 'x', count: 1 }]), 'chart')[0]!.title, 'x: 1 sign-in');
  const huge = timeBarChart(TEXT, [{ label: 'a', count: 2 ** 40 }]);
  assert.match(huge, />1\.1T</, 'the axis writes a huge count short');
  assert.match(huge, /1,099,511,627,776 sign-ins/, 'titles write it whole');
  assert.match(
    timeBarChart(TEXT, hourBars(hours)),
    /<desc id="chart-desc">Sign-ins \(UTC\)\. Total 276 sign-ins; most: 23:00 \(23\)\.<\/desc>/,
  );
  assert.match(timeBarChart(TEXT, []), /<desc id="chart-desc">Sign-ins \(UTC\)\. None: 0 sign-ins\.<\/desc>/);
  const hostile = timeBarChart(
    TEXT,
    HOSTILE_LABELS.map((label) => ({ label, count: 1 })),
  );
  assert.doesNotMatch(hostile, /<script|<img|<b>|<!--/);
  assert.ok(check(hostile, 'chart')[5]!.label.length <= 200, 'a 10 KB label is cut');
});

test('breakdownChart: most first as given, at most 10 bars and "N more", hostile labels cut and escaped', () => {
  const reasons = Array.from({ length: 100 }, (_, i) => ({ label: `reason ${i}`, count: 100 - i }));
  const cases: Array<[name: string, items: ChartBar[], counts: number[], more?: string]> = [
    ['nothing', [], []],
    ['one', [{ label: 'denied', count: 3 }], [3]],
    [
      'zero everywhere',
      [
        { label: 'a', count: 0 },
        { label: 'b', count: 0 },
      ],
      [0, 0],
    ],
    [
      'one huge value',
      [
        { label: 'a', count: 2 ** 40 },
        { label: 'b', count: 1 },
      ],
      [2 ** 40, 1],
    ],
    [
      '100 reasons',
      reasons,
      reasons.slice(0, BREAKDOWN_MAX_BARS).map((item) => item.count),
      'and 90 more reasons: 4,095 failures',
    ],
    ['hostile labels', HOSTILE_LABELS.map((label, i) => ({ label, count: i + 1 })), [1, 2, 3, 4, 5, 6]],
    [
      '100 hostile 10 KB labels',
      Array.from({ length: 100 }, (_, i) => ({ label: `<script>${'x'.repeat(10_240)}${i}`, count: 1 })),
      Array(10).fill(1),
      'and 90 more reasons: 90 failures',
    ],
  ];
  for (const [name, items, counts, more] of cases) {
    const svg = breakdownChart(BREAKDOWN, items);
    const drawn = check(svg, 'chart');
    assert.deepEqual(
      drawn.map((bar) => bar.count),
      counts,
      name,
    );
    assert.ok(svg.length < 10_240, `${name}: ${svg.length} characters`);
    if (more) assert.ok(svg.includes(`>${more}</text>`), `${name}: ${more}`);
    else assert.doesNotMatch(svg, /more reasons/, name);
    assert.doesNotMatch(svg, /<script/);
  }
  assert.match(breakdownChart(BREAKDOWN, []), />None in this period\.</);
  const [bar] = check(breakdownChart(BREAKDOWN, [{ label: '"><img src=x>', count: 2 }]), 'chart');
  assert.deepEqual(bar, { count: 2, title: '"><img src=x>: 2 failures', label: '"><img src=x>' });
});

test('ids: a page gives each chart its own; anything that is no id is refused', () => {
  assert.deepEqual(check(timeBarChart({ ...TEXT, id: 'per-day-2' }, []), 'per-day-2'), []);
  for (const id of ['', 'Chart', '1chart', 'a b', 'x"y', 'a'.repeat(65)])
    assert.throws(() => timeBarChart({ ...TEXT, id }, []), { name: 'RangeError' }, id);
});

/** WCAG 2.2 contrast ratio of a #rrggbb colour against white. */
function contrastWithWhite(hex: string): number {
  const channel = (i: number) => {
    const c = Number.parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
  return 1.05 / (luminance + 0.05);
}

test('colours: text 4.5:1 and bars and lines 3:1 against white, and only those colours are drawn', () => {
  assert.ok(contrastWithWhite(CHART_COLOURS.text) >= 4.5, 'text (WCAG 1.4.3)');
  assert.ok(contrastWithWhite(CHART_COLOURS.bar) >= 3, 'bars (WCAG 1.4.11)');
  assert.ok(contrastWithWhite(CHART_COLOURS.line) >= 3, 'lines (WCAG 1.4.11)');
  const svgs = [timeBarChart(TEXT, [{ label: 'a', count: 1 }]), breakdownChart(BREAKDOWN, [{ label: 'a', count: 1 }])];
  for (const svg of svgs)
    for (const element of all(parse(svg))) {
      if (element.name === 'text') assert.equal(element.attributes.fill, CHART_COLOURS.text);
      if (element.name === 'rect') assert.equal(element.attributes.fill, CHART_COLOURS.bar);
      if (element.name === 'line') assert.equal(element.attributes.stroke, CHART_COLOURS.line);
    }
});
