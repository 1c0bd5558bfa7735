// The latency one request pays, without queueing: one keep-alive connection, one request at a
// time, for a number of seconds. Run by bench/gateway.ts in a process of its own; prints JSON
// with p50/p99 in milliseconds (autocannon rounds latency to whole milliseconds).
// Usage: node bench/latency.ts URL SECONDS [HEADERS-JSON]
import { Client } from 'undici';

const [url, seconds, headersJson] = process.argv.slice(2);
const target = new URL(url!);
const headers = JSON.parse(headersJson ?? '{}') as Record<string, string>;
const client = new Client(target.origin, { keepAliveTimeout: 30_000 });
const samples: number[] = [];
let errors = 0;
const until = performance.now() + Number(seconds) * 1000;
while (performance.now() < until) {
  const started = performance.now();
  const response = await client.request({ path: target.pathname, method: 'GET', headers });
  await response.body.dump();
  samples.push(performance.now() - started);
  if (response.statusCode !== 200) errors++;
}
await client.close();
samples.sort((a, b) => a - b);
const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
process.stdout.write(JSON.stringify({ requests: samples.length, p50: at(0.5), p99: at(0.99), errors }));
