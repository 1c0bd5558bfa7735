// Charts drawn on the server as inline SVG, for the admin console's dashboard (issue 21): people
// look at charts, they do not read tables of counts. Pure functions returning markup that pages
// embed as it is, under SignOnce's page CSP (`default-src 'none'; style-src 'unsafe-inline'`): no
// script, no <style>, no external font or image — presentation attributes only. Accessible as one
// image each (`role="img"`, <title> and <desc> named by aria-labelledby/aria-describedby, SVG-AAM
// 1.0 section 5.1), each bar with a <title> of its label and count (a tooltip, and what assistive
// technology reads) and `data-count`, so tests read the numbers from the markup.
import type { TimeBar } from '../audit/dashboard.ts';
import { escapeHtml } from './pages.ts';

/** One bar: what it counts and how many. */
export interface ChartBar {
  readonly label: string;
  readonly count: number;
}

export interface ChartText {
  /**
   * Prefix of the chart's element ids, unique on its page: a lower-case letter, then letters,
   * digits and "-" (it is spliced into id attributes and aria references).
   */
  readonly id: string;
  readonly title: string;
  /** What the chart shows, in a sentence; the chart adds its total and its largest bar. */
  readonly description: string;
  /** What one event is called in a bar's title, singular and plural: ['sign-in', 'sign-ins']. */
  readonly noun: readonly [one: string, many: string];
}

// Colours against the white page, WCAG 2.2: text 4.5:1 at least (1.4.3), bars and lines 3:1 (1.4.11).
export const CHART_COLOURS = { text: '#333333', bar: '#1d4f91', line: '#767676' } as const;
const FONT = 'font-family="system-ui, sans-serif"';

/** Labels drawn beside bars are cut to this many characters; titles keep more, within reason. */
const DRAWN_LABEL_MAX = 40;
const TITLE_LABEL_MAX = 200;
/** A breakdown draws this many bars at most; the rest are counted in one "N more" line. */
export const BREAKDOWN_MAX_BARS = 10;

const ID = /^[a-z][a-z0-9-]{0,63}$/;

/**
 * Text as SVG can hold it: characters XML 1.0 forbids (control characters but tab and newline,
 * lone surrogates, U+FFFE/U+FFFF) become U+FFFD, then it is cut to `max` characters (whole code
 * points, "…" when cut) and escaped.
 */
function svgText(text: string, max: number): string {
  const clean = text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDFFF]/gu, '\uFFFD');
  const chars = [...clean];
  return escapeHtml(chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : clean);
}

/** A count as drawn: a finite non-negative integer (anything else is 0). */
const countOf = (count: number) => (Number.isFinite(count) && count > 0 ? Math.floor(count) : 0);
const full = new Intl.NumberFormat('en');
const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });
const counted = (count: number, [one, many]: ChartText['noun']) => `${full.format(count)} ${count === 1 ? one : many}`;

/** The <svg> element around a chart's body, with its accessible name and description. */
function svg(text: ChartText, width: number, height: number, bars: readonly ChartBar[], body: string): string {
  if (!ID.test(text.id)) throw new RangeError(`${JSON.stringify(text.id)} is not a chart id (a-z, then a-z, 0-9, "-")`);
  const total = bars.reduce((sum, bar) => sum + countOf(bar.count), 0);
  const largest = bars.reduce<ChartBar | undefined>(
    (most, bar) => (countOf(bar.count) > countOf(most?.count ?? 0) ? bar : most),
    undefined,
  );
  const summary = largest
    ? `Total ${counted(total, text.noun)}; most: ${largest.label} (${full.format(countOf(largest.count))}).`
    : `None: 0 ${text.noun[1]}.`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" aria-labelledby="${text.id}-title" aria-describedby="${text.id}-desc">` +
    `<title id="${text.id}-title">${svgText(text.title, TITLE_LABEL_MAX)}</title>` +
    `<desc id="${text.id}-desc">${svgText(`${text.description} ${summary}`, 2 * TITLE_LABEL_MAX + 100)}</desc>` +
    `${body}</svg>`
  );
}

/** One bar's rect, with its title and data attributes. */
function bar(x: number, y: number, width: number, height: number, item: ChartBar, noun: ChartText['noun']): string {
  const count = countOf(item.count);
  return `<rect x="${x}" y="${y}" width="${width}" height="${height}" fill="${CHART_COLOURS.bar}" data-count="${count}" data-label="${svgText(item.label, TITLE_LABEL_MAX)}"><title>${svgText(item.label, TITLE_LABEL_MAX)}: ${counted(count, noun)}</title></rect>`;
}

const round = (n: number) => Math.round(n * 10) / 10;

/**
 * Bars over time (24 hours, 7 days: any number), left to right, on a zero baseline with a
 * gridline at the largest count; every label drawn under its bar while they fit, else every
 * few. Every bar is drawn, a zero one as a flat rect, so each has its title and data-count.
 */
export function timeBarChart(text: ChartText, bars: readonly ChartBar[]): string {
  const width = 640;
  const height = 220;
  const left = 48;
  const right = 8;
  const top = 16;
  const bottom = 28;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const max = Math.max(0, ...bars.map((item) => countOf(item.count)));
  const slot = bars.length ? plotWidth / bars.length : plotWidth;
  // A label needs about 40 units; draw every `step`th when they would crowd.
  const step = Math.max(1, Math.ceil(40 / slot));
  const baseline = top + plotHeight;
  const parts = [
    `<line x1="${left}" y1="${top}" x2="${width - right}" y2="${top}" stroke="${CHART_COLOURS.line}" stroke-dasharray="4 3"/>`,
    `<text x="${left - 6}" y="${top + 4}" text-anchor="end" font-size="12" fill="${CHART_COLOURS.text}" ${FONT}>${compact.format(max)}</text>`,
    `<line x1="${left}" y1="${baseline}" x2="${width - right}" y2="${baseline}" stroke="${CHART_COLOURS.line}"/>`,
    `<text x="${left - 6}" y="${baseline + 4}" text-anchor="end" font-size="12" fill="${CHART_COLOURS.text}" ${FONT}>0</text>`,
  ];
  for (const [i, item] of bars.entries()) {
    const barHeight = max ? round((countOf(item.count) / max) * plotHeight) : 0;
    const x = round(left + i * slot + slot * 0.15);
    parts.push(bar(x, round(baseline - barHeight), round(slot * 0.7), barHeight, item, text.noun));
    if (i % step === 0)
      parts.push(
        `<text x="${round(left + (i + 0.5) * slot)}" y="${height - 10}" text-anchor="middle" font-size="11" fill="${CHART_COLOURS.text}" ${FONT}>${svgText(item.label, 12)}</text>`,
      );
  }
  return svg(text, width, height, bars, parts.join(''));
}

/**
 * Horizontal bars, one per label in the order given (most first, as the dashboard sorts them),
 * each with its count written after it; at most BREAKDOWN_MAX_BARS, the rest summed in one line
 * ("and 90 more reasons: 120 sign-ins"). Nothing to draw: one line saying so.
 */
export function breakdownChart(text: ChartText & { readonly what: string }, items: readonly ChartBar[]): string {
  const width = 640;
  const labelWidth = 260;
  const countWidth = 80;
  const row = 24;
  const shown = items.slice(0, BREAKDOWN_MAX_BARS);
  const rest = items.slice(BREAKDOWN_MAX_BARS);
  const lines = Math.max(1, shown.length) + (rest.length ? 1 : 0);
  const height = lines * row + 8;
  const max = Math.max(0, ...shown.map((item) => countOf(item.count)));
  const barSpace = width - labelWidth - countWidth;
  const label = (y: number, content: string, x = labelWidth - 8, anchor = 'end') =>
    `<text x="${x}" y="${y}" text-anchor="${anchor}" font-size="12" fill="${CHART_COLOURS.text}" ${FONT}>${content}</text>`;
  const parts: string[] = [];
  if (!shown.length) parts.push(label(row - 8, `None in this period.`, 0, 'start'));
  for (const [i, item] of shown.entries()) {
    const y = i * row + 4;
    const barWidth = max ? Math.max(1, round((countOf(item.count) / max) * barSpace)) : 0;
    parts.push(
      label(y + 14, svgText(item.label, DRAWN_LABEL_MAX)),
      bar(labelWidth, y + 2, barWidth, row - 8, item, text.noun),
      label(y + 14, full.format(countOf(item.count)), labelWidth + barWidth + 6, 'start'),
    );
  }
  if (rest.length) {
    const restTotal = rest.reduce((sum, item) => sum + countOf(item.count), 0);
    parts.push(
      label(
        shown.length * row + 18,
        svgText(`and ${full.format(rest.length)} more ${text.what}: ${counted(restTotal, text.noun)}`, 200),
        0,
        'start',
      ),
    );
  }
  return svg(text, width, height, items, parts.join(''));
}

const TIME = { timeZone: 'UTC', hourCycle: 'h23' } as const;
const hourFormat = new Intl.DateTimeFormat('en-GB', { ...TIME, hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat('en-GB', { ...TIME, weekday: 'short', day: 'numeric', month: 'short' });

/** The dashboard's hourly bars labelled by their UTC start ("14:00"). */
export const hourBars = (bars: readonly TimeBar[]): ChartBar[] =>
  bars.map((item) => ({ label: hourFormat.format(item.start), count: item.count }));

/** The dashboard's daily bars labelled by their UTC date ("Sun 6 Dec"). */
export const dayBars = (bars: readonly TimeBar[]): ChartBar[] =>
  bars.map((item) => ({ label: dayFormat.format(item.start), count: item.count }));
