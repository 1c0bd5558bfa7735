// Wording of SignOnce's pages that people act on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitInWords } from '../../src/gateway/pages.ts';

test('waitInWords: a throttled form tells its wait in seconds, or in minutes (rounded up) from two minutes', () => {
  const rows: Array<[number, string]> = [
    [1, '1 second'],
    [2, '2 seconds'],
    [60, '60 seconds'],
    [119, '119 seconds'],
    [120, '2 minutes'],
    [121, '3 minutes'],
    [900, '15 minutes'],
  ];
  for (const [seconds, words] of rows) assert.equal(waitInWords(seconds), words, String(seconds));
});
