// What a person reads of a session's User-Agent ("Firefox 133 on Linux"), for the account and admin
// pages: a few well-known browsers and systems, by the tokens their User-Agent strings carry, most
// specific first (Edge and Opera also say "Chrome", Chrome also says "Safari", iOS also says
// "Mac OS X", Android also says "Linux"). Only fixed names and a major version (digits) come out, so
// whatever a client sends cannot reach a page through it; the input is cut first and every pattern
// is linear, so a hostile header costs nothing.

export interface Device {
  /** E.g. "Chrome 131", "Safari 17", "curl 8", or "Unknown browser". */
  readonly browser: string;
  /** "Windows", "macOS", "iOS", "Android", "ChromeOS", "Linux", or "unknown system". */
  readonly os: string;
}

// Longer than any real User-Agent's part that names the browser and system.
const READ_AT_MOST = 512;

const BROWSERS: ReadonlyArray<readonly [name: string, pattern: RegExp]> = [
  ['Edge', /\bEdg(?:e|A|iOS)?\/(\d{1,4})(?!\d)/],
  ['Opera', /\b(?:OPR|OPiOS)\/(\d{1,4})(?!\d)/],
  ['Samsung Internet', /\bSamsungBrowser\/(\d{1,4})(?!\d)/],
  ['Firefox', /\b(?:Firefox|FxiOS)\/(\d{1,4})(?!\d)/],
  ['Chrome', /(?:\b|Headless)(?:Chrome|CriOS)\/(\d{1,4})(?!\d)/],
  ['Safari', /\bVersion\/(\d{1,4})(?!\d)\S* (?:Mobile\/\S+ )?Safari\//],
  ['curl', /^curl\/(\d{1,4})(?!\d)/],
];

const SYSTEMS: ReadonlyArray<readonly [name: string, pattern: RegExp]> = [
  ['Windows', /\bWindows\b/],
  ['iOS', /\b(?:iPhone|iPad|iPod)\b/],
  ['Android', /\bAndroid\b/],
  ['macOS', /\bMac OS X\b|\bMacintosh\b/],
  ['ChromeOS', /\bCrOS\b/],
  ['Linux', /\bLinux\b|\bX11\b/],
];

/** The browser and system a User-Agent header names, in words a person reads. */
export function deviceOf(userAgent: string | undefined): Device {
  const text = (userAgent ?? '').slice(0, READ_AT_MOST);
  const browser = BROWSERS.map(([name, pattern]) => [name, pattern.exec(text)?.[1]] as const).find(
    ([, version]) => version !== undefined,
  );
  return {
    browser: browser ? `${browser[0]} ${browser[1]}` : 'Unknown browser',
    os: SYSTEMS.find(([, pattern]) => pattern.test(text))?.[0] ?? 'unknown system',
  };
}
