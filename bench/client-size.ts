// The size of signonce/client's browser build, minified and gzipped (the budget: 8 KB).
// Run: npm run bench:client-size
import { gzipSync } from 'node:zlib';
import { browserClientBundle } from '../test/support/client-bundle.ts';

const bundle = await browserClientBundle();
const gzipped = gzipSync(bundle, { level: 9 }).length;
console.log('| signonce/client, browser build | bytes |\n|---|---:|');
console.log(`| minified | ${Buffer.byteLength(bundle)} |`);
console.log(`| minified + gzip | ${gzipped} |`);
console.log(`| budget (8 KB) | 8192 |`);
if (gzipped > 8192) process.exitCode = 1;
