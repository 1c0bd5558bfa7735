// The app behind the proxies in the gateway benchmarks, in a process of its own: a small JSON answer
// at any path; `/bytes/N` answers N bytes of JSON instead (bench/forward-auth.ts asks 65536), and
// `/headers` the request's headers (to check what a proxy passes on, not to load).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const body = JSON.stringify({ ok: true, items: Array.from({ length: 10 }, (_, i) => ({ id: i, name: `item ${i}` })) });
const sized = new Map<string, string>();
/** `{"ok":true,"pad":"xxx…"}` of exactly `bytes` bytes (at least the padding's frame). */
const bodyOf = (bytes: number) => {
  const frame = '{"ok":true,"pad":""}';
  return `${frame.slice(0, -2)}${'x'.repeat(Math.max(0, bytes - frame.length))}"}`;
};
const server = createServer((request, response) => {
  let answer = body;
  if (request.url!.startsWith('/bytes/')) {
    answer = sized.get(request.url!) ?? bodyOf(Number.parseInt(request.url!.slice(7), 10) || 0);
    sized.set(request.url!, answer);
  } else if (request.url === '/headers') answer = JSON.stringify(request.headers);
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
  response.end(answer);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
