import { once } from 'node:events';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

/** Starts `server` on 127.0.0.1 with a port the system picks, and returns its base URL. */
export async function listenOnLoopback(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port on 127.0.0.1 that was free a moment ago, for servers whose URL must be known before they start. */
export async function freeLoopbackPort(): Promise<number> {
  const server = http.createServer();
  const url = await listenOnLoopback(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return Number(new URL(url).port);
}

/** Throws unless `url` points at this machine's loopback interface: fakes never send anywhere else. */
export function assertLoopbackUrl(url: string): void {
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') {
    throw new Error(`fakes only send to loopback addresses, not to ${host}`);
  }
}

export async function readRequestBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

let colorCounter = 0;

/** A small PNG of one colour that no other call of this process returns, so tests can tell images apart. */
export async function distinctPng(): Promise<Buffer> {
  colorCounter += 1;
  const value = colorCounter;
  return sharp({
    create: { width: 16, height: 12, channels: 3, background: { r: value % 256, g: (value >> 8) % 256, b: 200 } },
  })
    .png()
    .toBuffer();
}
