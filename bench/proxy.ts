// The baseline of the gateway benchmarks: a minimal Node reverse proxy (node:http + undici, no
// authentication), what any proxy must do and nothing more. Imported by bench/gateway.ts; run on
// its own (`node bench/proxy.ts BACKEND_URL`) by bench/cluster.ts, it prints its port.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';

export async function startMinimalProxy(backendUrl: string): Promise<{ url: string; close(): Promise<void> }> {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
  const server: Server = createServer(async (incoming, outgoing) => {
    const response = await request(new URL(incoming.url!, backendUrl), {
      dispatcher: agent,
      method: incoming.method as 'GET',
      headers: incoming.headers as Record<string, string>,
      body: null,
    });
    outgoing.writeHead(response.statusCode, response.headers as Record<string, string>);
    for await (const chunk of response.body) outgoing.write(chunk);
    outgoing.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await agent.close();
    },
  };
}

if (import.meta.main) {
  const proxy = await startMinimalProxy(process.argv[2]!);
  process.stdout.write(`${new URL(proxy.url).port}\n`);
}
