import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  headers?: Record<string, string>;
  body?: string | Buffer;
  connections?: number;
  durationSeconds?: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  non2xx: number;
  errors: number;
}

/** Sends load from this process with autocannon for a fixed time, on loopback only. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  assertLoopback(options.url);
  const result = await autocannon({
    url: options.url,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    connections: options.connections ?? 16,
    duration: options.durationSeconds ?? 10,
  });
  return {
    requestsPerSecond: Math.round(result.requests.average),
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/**
 * Starts a bare `node:http` server in a child process that answers every request with `body` and
 * `headers`: the baseline each endpoint is compared with in the same run.
 */
export async function startBareServer(body: Buffer, headers: Record<string, string>): Promise<{ url: string; pid?: number; stop(): Promise<void> }> {
  const script = `
    const http = require('node:http');
    const body = Buffer.from(process.env.BARE_BODY, 'base64');
    const headers = JSON.parse(process.env.BARE_HEADERS);
    const server = http.createServer((request, response) => {
      request.resume();
      request.on('end', () => { response.writeHead(200, headers); response.end(body); });
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));
  `;
  const child = spawn(process.execPath, ['-e', script], {
    env: { ...process.env, BARE_BODY: body.toString('base64'), BARE_HEADERS: JSON.stringify(headers) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return { url: `http://127.0.0.1:${chunk.toString().trim()}`, pid: child.pid, stop: () => stopChild(child) };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  child.kill('SIGTERM');
  await once(child, 'exit');
}

function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
    throw new Error(`Benchmarks only send traffic to loopback, not to ${host}`);
  }
}

export function formatRow(cells: Array<string | number>): string {
  return `| ${cells.join(' | ')} |`;
}
