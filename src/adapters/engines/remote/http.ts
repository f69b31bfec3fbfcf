import { setTimeout as delay } from 'node:timers/promises';
import { httpStatusError, retryableError, toEngineError, truncate } from './failures.js';

/** Outputs larger than this are rejected: a portrait is a few MiB at most. */
export const MAX_OUTPUT_BYTES = 50 * 1024 * 1024;

export interface RequestOptions {
  signal: AbortSignal;
  timeoutMs: number;
  headers?: Record<string, string>;
}

/**
 * Sends one request with Node's fetch, aborted by `signal` or after `timeoutMs`. Failures become
 * EngineErrors named after `what`; header values never appear in them.
 */
export async function send(what: string, url: string, init: RequestInit, options: RequestOptions): Promise<Response> {
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]);
  let response: Response;
  try {
    response = await fetch(url, { ...init, headers: { ...options.headers, ...toRecord(init.headers) }, signal });
  } catch (error) {
    options.signal.throwIfAborted();
    throw toEngineError(what, error);
  }
  if (!response.ok) {
    const detail = await response.text().catch(() => '');
    throw httpStatusError(what, response.status, truncate(detail.trim(), 300));
  }
  return response;
}

/** Reads a response body into memory, rejecting bodies over `maxBytes` before and while reading. */
export async function readBody(what: string, response: Response, maxBytes: number = MAX_OUTPUT_BYTES): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    throw retryableError(`${what} returned ${declared} bytes, more than the limit of ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body ?? []) {
      total += chunk.byteLength;
      if (total > maxBytes) {
        throw retryableError(`${what} returned more than the limit of ${maxBytes} bytes`);
      }
      chunks.push(Buffer.from(chunk));
    }
  } catch (error) {
    throw toEngineError(what, error);
  }
  return Buffer.concat(chunks);
}

/** Waits `ms` milliseconds; rejects with the signal's reason when it aborts first. */
export async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    signal.throwIfAborted();
    throw error;
  }
}

function toRecord(headers: RequestInit['headers']): Record<string, string> {
  if (headers === undefined) {
    return {};
  }
  return Object.fromEntries(new Headers(headers).entries());
}
