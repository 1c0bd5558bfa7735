// The Link header rule GitHub's paging relies on (RFC 8288): only a `next` relation is followed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextLink } from '../../src/providers/groups.ts';

test('nextLink: the target of the link whose relation types include next, and nothing else', () => {
  const cases: Array<[string | null, string | undefined]> = [
    [null, undefined],
    ['', undefined],
    ['<https://api.github.com/user/orgs?page=2>; rel="next"', 'https://api.github.com/user/orgs?page=2'],
    ['<https://a.example/1>; rel="prev", <https://a.example/3>; rel="next"', 'https://a.example/3'],
    // RFC 8288 section 3.3: several relation types in one rel, compared case-insensitively; unquoted too.
    ['<https://a.example/3>; rel="last next"', 'https://a.example/3'],
    ['<https://a.example/3>; REL=Next', 'https://a.example/3'],
    ['<https://a.example/3>; title="next"; rel="last"', undefined],
    ['<https://a.example/3>; rel="nextpage"', undefined],
    ['<https://a.example/3>; rel="next-archive"', undefined],
    ['https://a.example/3; rel="next"', undefined],
  ];
  for (const [header, expected] of cases) assert.equal(nextLink(header), expected, String(header));
});
