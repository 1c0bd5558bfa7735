// WebSocket (and any HTTP/1.1 Upgrade) tunnelling to an app (RFC 6455 section 4; RFC 9110
// section 7.8): the upgrade request goes upstream with the gateway's headers, on a connection of
// its own; on 101 the two sockets are joined; any other answer is relayed and both connections
// closed.
import { request, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { originForm } from './proxy.ts';

/**
 * Whether an upgrade request announces a body: any Transfer-Encoding, or a Content-Length other
 * than one "0". The tunnel sends the app the request's headers and never a body, so an app would
 * read the announced body from whatever came next on the connection (request smuggling, RFC 9112
 * section 6.3; CWE-444); a WebSocket handshake is a GET without one (RFC 6455 section 4.1). Names
 * are compared as some servers read them, `_` as `-` (CWE-436).
 */
export function announcesBody(rawHeaders: readonly string[]): boolean {
  const lengths: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase().replaceAll('_', '-');
    if (name === 'transfer-encoding') return true;
    if (name === 'content-length') lengths.push(rawHeaders[i + 1]!);
  }
  return lengths.length > 1 || (lengths.length === 1 && lengths[0] !== '0');
}

/**
 * Closes a client connection once what was written to it has gone out. Node's HTTP server keeps
 * sockets half-open and hands an upgrade's socket over without its timeouts: `end()` alone would
 * leave it open for as long as the client keeps its side open.
 */
const closeWhenSent = (socket: Duplex) => socket.end(() => socket.destroy());

/** Answers an upgrade request that will not be tunnelled, and closes the connection. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  if (!socket.writable) return void socket.destroy();
  socket.write(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  closeWhenSent(socket);
}

/** The status line and header block of an upstream answer, for writing to the client socket. */
function head(response: IncomingMessage): string {
  const lines = [`HTTP/1.1 ${response.statusCode} ${response.statusMessage ?? ''}`];
  for (let i = 0; i + 1 < response.rawHeaders.length; i += 2)
    lines.push(`${response.rawHeaders[i]}: ${response.rawHeaders[i + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export function tunnel(
  upstream: string,
  incoming: IncomingMessage,
  headers: Array<[string, string]>,
  client: Duplex,
  clientHead: Buffer,
  onError: (error: Error) => void,
): void {
  // The app's upstream and the path alone: a URL resolved from the request target would let an
  // absolute-form ("http://internal/") or "//internal/" target choose the host (SSRF, CWE-918).
  const { protocol, hostname, port } = new URL(upstream);
  // A connection of its own (agent: false), never a pooled keep-alive one: whatever state a
  // declined upgrade leaves the app's connection in, no other request is read against it (CWE-444).
  const outgoing = request({
    protocol,
    hostname,
    port,
    path: originForm(incoming.url ?? '/'),
    method: incoming.method,
    headers: headers.flat(),
    setHost: false,
    agent: false,
  });
  // The client leaving ends the attempt, and the app's connection with it.
  client.once('close', () => outgoing.destroy());
  outgoing.on('upgrade', (response, server, serverHead) => {
    client.write(head(response));
    if (serverHead.length) client.write(serverHead);
    if (clientHead.length) server.write(clientHead);
    server.pipe(client).pipe(server);
    const close = () => {
      server.destroy();
      client.destroy();
    };
    server.on('error', close).on('close', close);
    client.on('error', close).on('close', close);
  });
  outgoing.on('response', (response) => {
    // The app declined the upgrade: its answer is relayed as it is, then both connections close
    // (cut short when the app broke off).
    client.write(head(response));
    response.pipe(client, { end: false });
    response.once('close', () => {
      outgoing.destroy();
      if (response.complete) closeWhenSent(client);
      else client.destroy();
    });
  });
  outgoing.on('error', (error) => {
    if (client.destroyed) return;
    onError(error);
    refuseUpgrade(client, 502, 'Bad Gateway');
  });
  outgoing.end();
}
