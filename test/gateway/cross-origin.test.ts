// The cross-site check of state-changing requests (http.ts crossOrigin): what a browser sends for
// a page's own form post passes, whatever its Referrer-Policy; what another page (another site, a
// sibling host, an opaque origin) can make it send is refused; a client that is no browser passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crossOrigin } from '../../src/gateway/rules/cross-origin.ts';

const HOST = 'app.example.com';

test("allowed: the page's own requests, and clients that are no browser", () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ 'sec-fetch-site': 'same-origin', origin: `https://${HOST}` }, 'a same-origin form post'],
    [
      { 'sec-fetch-site': 'same-origin', origin: 'null' },
      'a same-origin form post from a page under Referrer-Policy: no-referrer (Chromium)',
    ],
    [{ 'sec-fetch-site': 'same-origin' }, 'same-origin, no Origin'],
    [{ 'sec-fetch-site': 'none' }, "started by the user in the browser's own UI (no page can cause it)"],
    [{ origin: `https://${HOST}` }, 'a browser without Fetch Metadata, Origin of this host'],
    [{ origin: `http://${HOST}` }, "the host is compared, as before (the scheme is the listener's)"],
    [{}, 'no Origin, no Sec-Fetch-Site: curl, a server'],
  ];
  for (const [headers, why] of cases) assert.equal(crossOrigin(headers, HOST), false, why);
});

test('refused: the hostile table', () => {
  const cases: Array<[Record<string, string | string[]>, string]> = [
    [{ 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, 'another site'],
    [{ 'sec-fetch-site': 'cross-site', origin: 'null' }, 'another site, its page under no-referrer or sandboxed'],
    [
      { 'sec-fetch-site': 'cross-site', origin: `https://${HOST}` },
      'Sec-Fetch-Site decides, not an Origin that says otherwise',
    ],
    [{ 'sec-fetch-site': 'cross-site' }, 'cross-site without Origin'],
    [{ 'sec-fetch-site': 'same-site', origin: `https://sibling.example.com` }, 'a sibling host of the same site'],
    [{ 'sec-fetch-site': 'same-site' }, 'a sibling host, without Origin'],
    [{ 'sec-fetch-site': 'Same-Origin' }, 'not a value a browser sends (they are lower case)'],
    [{ 'sec-fetch-site': 'same-origin, cross-site' }, 'repeated header, joined by Node'],
    [{ 'sec-fetch-site': ['same-origin', 'cross-site'] }, 'repeated header, as a list'],
    [{ 'sec-fetch-site': '' }, 'empty'],
    [{ 'sec-fetch-site': 'whatever', origin: `https://${HOST}` }, 'unknown value'],
    [
      { origin: 'null' },
      'Origin: null without Sec-Fetch-Site: names no origin (sandboxed frame, data: URL, no-referrer)',
    ],
    [{ origin: 'https://evil.example' }, 'another site by Origin'],
    [{ origin: 'https://sibling.example.com' }, 'a sibling host by Origin'],
    [{ origin: `https://${HOST}.evil.example` }, 'the host as a prefix'],
    [{ origin: `https://evil.example/${HOST}` }, 'the host in a path'],
    [{ origin: `https://${HOST}@evil.example` }, 'the host as userinfo'],
    [{ origin: `https://${HOST}/` }, 'not a serialized origin (a path)'],
    [{ origin: `https://${HOST}, https://evil.example` }, 'two origins'],
    [{ origin: `https://${HOST.toUpperCase()}` }, 'not as a browser serializes it'],
    [{ origin: HOST }, 'no scheme'],
    [{ origin: '' }, 'empty'],
    [{ origin: 'file://' }, 'file: (an opaque origin)'],
  ];
  for (const [headers, why] of cases) assert.equal(crossOrigin(headers, HOST), true, why);
});
