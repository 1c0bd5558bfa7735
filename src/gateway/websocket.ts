// WebSocket (and any HTTP/1.1 Upgrade) tunnelling to an app (RFC 6455 section 4; RFC 9110
// section 7.8): the upgrade request goes upstream with the gateway's headers; on 101 the two
// sockets are joined; any other answer is relayed and the connection closed.
import { request, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { originForm } from './proxy.ts';

/** Answers an upgrade request that will not be tunnelled, and closes the connection. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  if (!socket.writable) return void socket.destroy();
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** The status line and header block of an upstream answer, for writing to the client socket. */
function head(response: IncomingMessage): string {
  const lines = [`HTTP/1.1 ${response.statusCode} ${response.statusMessage ?? ''}`];
  for (let i = 0; i + 1 < response.rawHeaders.length; i += 2) lines.push(`${response.rawHeaders[i]}: ${response.rawHeaders[i + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export function tunnel(upstream: string, incoming: IncomingMessage, headers: Array<[string, string]>, client: Duplex, clientHead: Buffer, onError: (error: Error) => void): void {
  // The app's upstream and the path alone: a URL resolved from the request target would let an
  // absolute-form ("http://internal/") or "//internal/" target choose the host (SSRF, CWE-918).
  const { protocol, hostname, port } = new URL(upstream);
  const outgoing = request({ protocol, hostname, port, path: originForm(incoming.url ?? '/'), method: incoming.method, headers: headers.flat(), setHost: false });
  outgoing.on('upgrade', (response, server, serverHead) => {
    client.write(head(response));
    if (serverHead.length) client.write(serverHead);
    if (clientHead.length) server.write(clientHead);
    server.pipe(client).pipe(server);
    const close = () => { server.destroy(); client.destroy(); };
    server.on('error', close).on('close', close);
    client.on('error', close).on('close', close);
  });
  outgoing.on('response', (response) => {
    // The app declined the upgrade: relay its answer as it is.
    client.write(head(response));
    response.pipe(client);
  });
  outgoing.on('error', (error) => {
    onError(error);
    refuseUpgrade(client, 502, 'Bad Gateway');
  });
  outgoing.end();
}
