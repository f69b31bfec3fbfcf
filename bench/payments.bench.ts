// POST /verify-payment against the loopback fake App Store, next to a bare node:http server that returns
// the same response bytes. The server under test is the built dist/ in a child process with SQLite.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AppleStatus, FakeAppStore } from '../test/helpers/fake-app-store.js';
import { paymentBody } from '../test/helpers/payments.js';
import { type LoadResult, formatRow, runLoad, startBareServer, stopChild } from './lib/load.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DURATION_SECONDS = 10;
const CONNECTIONS = 16;

/** Starts `node dist/cli.js serve` on a free loopback port and resolves with its URL once it listens. */
async function startServer(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['dist/cli.js', 'serve'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    lines.on('line', (text) => {
      const line = parseLogLine(text);
      if (line.msg === 'Envision API listening' && line.address !== undefined) {
        resolve(line.address);
      }
    });
    child.once('exit', (code) => reject(new Error(`the server exited with ${code} before listening`)));
  });
  // Per-request log lines are read and dropped, as a log shipper would, so the pipe never fills up.
  return { url, child };
}

function parseLogLine(text: string): { msg?: string; address?: string } {
  try {
    return JSON.parse(text) as { msg?: string; address?: string };
  } catch {
    return {};
  }
}

function row(name: string, result: LoadResult): string {
  return formatRow([name, result.requestsPerSecond, result.latencyP50Ms, result.latencyP99Ms, result.non2xx + result.errors]);
}

export default async function paymentsBenchmark(): Promise<string> {
  const fake = await new FakeAppStore().start();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'envision-bench-payments-'));
  const server = await startServer({
    ...fake.environment(),
    NODE_ENV: 'development',
    DATA_DIR: dataDir,
    JWT_SECRET: 'benchmark-secret-that-is-long-enough-for-hs256',
    LOG_LEVEL: 'info',
  });

  try {
    const expiresDate = Date.now() + 30 * 24 * 3600 * 1000;
    fake.addSubscription({
      environment: 'Production',
      originalTransactionId: '2000000000000001',
      transactions: [{ transactionId: '2000000000000001', expiresDate }],
      status: AppleStatus.active,
    });
    const appleBody = JSON.stringify(paymentBody({ transactionId: '2000000000000001', originalTransactionId: '2000000000000001', expiresDate }));
    const debugBody = JSON.stringify(paymentBody({ transactionId: '0', originalTransactionId: '0', expiresDate }, { debuggingMode: true }));
    const headers = { 'content-type': 'application/json' };

    // One call creates the user, so the measured calls take the existing-user path, as an app's later
    // launches do. Its response is what the bare server returns.
    const first = await fetch(`${server.url}/verify-payment`, { method: 'POST', headers, body: appleBody });
    if (first.status !== 200) {
      throw new Error(`warm-up /verify-payment failed with ${first.status}: ${await first.text()}`);
    }
    const responseBytes = Buffer.from(await first.arrayBuffer());
    const bare = await startBareServer(responseBytes, { 'content-type': 'application/json; charset=utf-8' });

    try {
      const load = { method: 'POST' as const, headers, connections: CONNECTIONS, durationSeconds: DURATION_SECONDS };
      const withApple = await runLoad({ ...load, url: `${server.url}/verify-payment`, body: appleBody });
      const debug = await runLoad({ ...load, url: `${server.url}/verify-payment`, body: debugBody });
      const baseline = await runLoad({ ...load, url: bare.url, body: appleBody });

      return [
        '### POST /verify-payment',
        '',
        `autocannon, ${CONNECTIONS} connections, ${DURATION_SECONDS} s per row, one API process, SQLite, LOG_LEVEL=info.`,
        'The fake App Store runs in the benchmark process on loopback and signs every response with ES256.',
        '',
        formatRow(['target', 'requests/s', 'p50 ms', 'p99 ms', 'non-2xx or errors']),
        formatRow(['---', '---', '---', '---', '---']),
        row('/verify-payment, existing user, fake App Store (2 Apple calls, 3 JWS checks)', withApple),
        row('/verify-payment, debug purchase (no Apple calls)', debug),
        row(`bare node:http, same ${responseBytes.length}-byte response`, baseline),
      ].join('\n');
    } finally {
      await bare.stop();
    }
  } finally {
    await stopChild(server.child);
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
