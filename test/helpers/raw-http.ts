import { once } from 'node:events';
import { type Socket, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RawResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** Opens a TCP connection to a test server on loopback. */
export async function openSocket(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  return socket;
}

/** Head of an HTTP/1.1 request; the caller writes the body itself, as slowly or as partly as the test needs. */
export function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries({ host: '127.0.0.1', ...headers }).map(([name, value]) => `${name}: ${value}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Resolves with the first response on the socket once its head and Content-Length bytes of body have
 * arrived, while the request body may still be unsent. Rejects when the server closes first, or when no
 * response came within `timeoutMs`: a server that waits for the rest of the body never responds.
 */
export function readResponse(socket: Socket, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error(`No response within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) {
        return;
      }
      const [statusLine, ...headerLines] = received.subarray(0, end).toString('latin1').split('\r\n');
      const headers = Object.fromEntries(
        headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      const length = Number(headers['content-length'] ?? 0);
      if (received.length - end - 4 < length) {
        return;
      }
      socket.off('data', onData);
      socket.off('close', onClose);
      clearTimeout(timer);
      resolve({ statusCode: Number(statusLine!.split(' ')[1]), headers, body: received.subarray(end + 4, end + 4 + length).toString() });
    };
    const onClose = () => {
      clearTimeout(timer);
      reject(new Error(`The server closed the connection without a full response: ${received.toString('latin1')}`));
    };
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** Checks `condition` every 20 ms until it holds; rejects after `timeoutMs` with `description`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, description: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`Gave up waiting after ${timeoutMs} ms: ${description}`);
    }
    await sleep(20);
  }
}
