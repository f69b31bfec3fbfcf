import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { paymentBody } from '../helpers/payments.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface LogLine {
  pid: number;
  msg: string;
  url?: string;
}

/** Finds a free loopback port by binding port 0; the cluster's API processes then share that port. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Resolves once `count` log lines pass `test`, or rejects when the process exits first. */
function waitForLines(lines: LogLine[], child: ChildProcess, test: (line: LogLine) => boolean, count: number): Promise<LogLine[]> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const matching = lines.filter(test);
      if (matching.length >= count) {
        clearInterval(timer);
        resolve(matching);
      }
    };
    const timer = setInterval(check, 50);
    child.once('exit', (code) => {
      clearInterval(timer);
      reject(new Error(`server exited with ${code} before logging enough lines:\n${lines.map((line) => line.msg).join('\n')}`));
    });
    check();
  });
}

describe('built server with WEB_CONCURRENCY=2', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'envision-cluster-'));
  const lines: LogLine[] = [];
  let server: ChildProcess;
  let baseUrl: string;

  before(async () => {
    const build = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(build.status, 0, `tsc -p tsconfig.build.json failed:\n${build.stdout}${build.stderr}`);

    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, ['dist/cli.js', 'serve'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: String(port),
        WEB_CONCURRENCY: '2',
        DATA_DIR: dataDir,
        JWT_SECRET: TEST_JWT_SECRET,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    createInterface({ input: server.stdout! }).on('line', (text) => {
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        lines.push({ pid: 0, msg: text });
      }
    });
  });

  after(() => {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGKILL');
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts two API processes on one port', async () => {
    const listening = await waitForLines(lines, server, (line) => line.msg === 'Envision API listening', 2);

    assert.equal(new Set(listening.map((line) => line.pid)).size, 2);
    assert.ok(listening.every((line) => line.pid !== server.pid), 'the primary process only supervises');
  });

  it('serves requests from both processes', async () => {
    const health = await fetch(`${baseUrl}/healthz`);
    const purchases = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        fetch(`${baseUrl}/verify-payment`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(
            paymentBody(
              { transactionId: String(index), originalTransactionId: String(index), expiresDate: Date.now() + 24 * 3600 * 1000 },
              { debuggingMode: true },
            ),
          ),
        }),
      ),
    );

    assert.equal(health.status, 200);
    assert.deepEqual(purchases.map((response) => response.status), [200, 200, 200, 200, 200, 200, 200, 200]);
    // node:cluster hands connections to the API processes in turn, so the concurrent requests reach both.
    const served = await waitForLines(lines, server, (line) => line.msg === 'request completed', 9);
    assert.equal(new Set(served.map((line) => line.pid)).size, 2);
  });

  it('stops every process on SIGTERM', async () => {
    const exited = once(server, 'exit');
    server.kill('SIGTERM');
    const [exitCode] = (await exited) as [number | null];

    assert.equal(exitCode, 0);
    const stopped = lines.filter((line) => line.msg === 'stopped').map((line) => line.pid);
    assert.equal(new Set(stopped).size, 3, `expected the primary and both API processes to log "stopped", got pids ${stopped}`);
    const socket = connect(Number(new URL(baseUrl).port), '127.0.0.1');
    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED');
  });
});
