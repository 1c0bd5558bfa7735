// Durations in configuration: `250ms`, `90s`, `30m`, `8h`, `2d`, or combinations from the largest
// unit down (`1h30m`, `1s500ms`); a bare number means seconds, also when written as a string
// (as an environment variable gives it). Strict on purpose: `8 hours` or `1.5h` are refused
// rather than guessed at.

const UNITS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const;
const PATTERN = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

export const DURATION_HINT = 'a duration like 500ms, 90s, 30m, 8h, 2d or 1h30m';

/** Milliseconds, or undefined when `value` is not a duration. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value * 1000 : undefined;
  if (/^\d+$/.test(value)) return parseDuration(Number(value));
  const match = PATTERN.exec(value);
  if (!value || !match) return undefined;
  const [, d = '0', h = '0', m = '0', s = '0', milliseconds = '0'] = match;
  const ms =
    Number(d) * UNITS.d + Number(h) * UNITS.h + Number(m) * UNITS.m + Number(s) * UNITS.s + Number(milliseconds);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** `ms` as this file's durations are written (`1h30m`, `10m`, `250ms`; `0s`): parseDuration reads it back. */
export function formatDuration(ms: number): string {
  let rest = Math.max(0, Math.floor(ms));
  let text = '';
  for (const [unit, size] of [...Object.entries(UNITS), ['ms', 1] as const]) {
    const count = Math.floor(rest / size);
    if (count > 0) text += `${count}${unit}`;
    rest -= count * size;
  }
  return text || '0s';
}
