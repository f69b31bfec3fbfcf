// Wall time of one pack run as a user gets it, from POST /start-job until /job-status reports the run
// completed. The server is the built one (`node dist/cli.js start`) in a child process on the embedded
// defaults: SQLite, local disk, the quality gate on, and the local engine with two in-process workers. The baseline
// renders the same images with the same engine directly in this process, two prompts at a time as the
// server's two workers do, so the difference is what the pipeline adds: queue, leases, storage writes,
// database records and the polling interval.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrateToLatest, openDatabase } from '../../src/adapters/database/database.js';
import { LocalEngine } from '../../src/adapters/engines/local/local-engine.js';
import { debugPurchaseBody } from '../../scripts/debug-purchase.js';
import { insertTestPack } from '../../test/helpers/generation.js';
import { MemoryStorage } from '../../test/helpers/memory-storage.js';
import { stopChild } from './load.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PHOTO = readFileSync(path.join(root, 'test/fixtures/photos/astronaut.jpg'));
/** The server's default WORKER_CONCURRENCY; the baseline renders this many prompts at once. */
const SERVER_WORKERS = 2;
const POLL_INTERVAL_MS = 50;

export interface PackRunMeasurement {
  numPrompts: number;
  numImagesPerPrompt: number;
  pipelineMs: number;
  directMs: number;
}

export async function measurePackRun(numPrompts: number, numImagesPerPrompt: number): Promise<PackRunMeasurement> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'envision-bench-run-'));
  const databaseUrl = path.join(dataDir, 'envision.sqlite');
  let server: ChildProcess | undefined;
  try {
    // The seeded `neon` pack is replaced by one of the measured size, so both sides render the same look.
    const connection = openDatabase(databaseUrl);
    await migrateToLatest(connection.db);
    await insertTestPack(connection.db, { name: 'neon', numPrompts, numImagesPerPrompt });
    await connection.close();

    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [path.join(root, 'dist/cli.js'), 'start'], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dataDir, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitUntilReady(baseUrl, server);

    const token = (await postJson(baseUrl, '/verify-payment', undefined, debugPurchaseBody(new Date(Date.now() + 24 * 3600_000)))).jwt_token as string;
    const jobId = (await call(baseUrl, 'GET', '/initalize-job', token)).jobId as string;
    const form = new FormData();
    form.set('jobId', jobId);
    form.set('image', new Blob([PHOTO], { type: 'image/jpeg' }), 'astronaut.jpg');
    const uploaded = await call(baseUrl, 'POST', '/upload', token, form);

    const started = performance.now();
    await postJson(baseUrl, '/start-job', token, { jobId, pack_name: 'neon' });
    for (;;) {
      const status = await call(baseUrl, 'GET', `/job-status?jobId=${jobId}`, token);
      if (status.status === 'completed') {
        break;
      }
      if (status.status === 'failed' || status.status === 'partial') {
        throw new Error(`The benchmark run ended ${String(status.status)}: ${String(status.reason)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
    const pipelineMs = performance.now() - started;

    const directMs = await renderDirectly(numPrompts, numImagesPerPrompt, uploaded.faceBox);
    return { numPrompts, numImagesPerPrompt, pipelineMs, directMs };
  } finally {
    if (server !== undefined) {
      await stopChild(server);
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Prepares the photo and renders every prompt with the local engine, SERVER_WORKERS prompts at a time. */
async function renderDirectly(numPrompts: number, numImagesPerPrompt: number, faceBox: { x: number; y: number; width: number; height: number } | null): Promise<number> {
  const storage = new MemoryStorage();
  await storage.put('jobs/bench/photos/photo-1.jpg', PHOTO, 'image/jpeg');
  const engine = new LocalEngine({ minimumPhotos: 1 });
  const signal = new AbortController().signal;

  const started = performance.now();
  const preparation = await engine.prepare({
    jobId: 'bench',
    photos: [{ id: 'photo-1', storageKey: 'jobs/bench/photos/photo-1.jpg', width: 512, height: 512, faceBox }],
    storage,
    signal,
  });
  let nextPrompt = 0;
  const worker = async () => {
    while (nextPrompt < numPrompts) {
      const promptIndex = nextPrompt;
      nextPrompt += 1;
      await engine.render({
        jobId: 'bench',
        packName: 'neon',
        promptIndex,
        prompt: `test prompt ${promptIndex}`,
        negativePrompt: null,
        seed: promptIndex + 1,
        imageCount: numImagesPerPrompt,
        preparation,
        storage,
        signal,
      });
    }
  };
  await Promise.all(Array.from({ length: SERVER_WORKERS }, worker));
  return performance.now() - started;
}

function postJson(baseUrl: string, url: string, token: string | undefined, body: unknown): Promise<any> {
  return call(baseUrl, 'POST', url, token, JSON.stringify(body));
}

async function call(baseUrl: string, method: string, url: string, token: string | undefined, body?: string | FormData): Promise<any> {
  const headers: Record<string, string> = {};
  if (token !== undefined) {
    headers.authorization = `Bearer ${token}`;
  }
  if (typeof body === 'string') {
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(`${baseUrl}${url}`, { method, headers, body });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${method} ${url} failed with status ${response.status}: ${text}`);
  }
  return JSON.parse(text);
}

async function waitUntilReady(baseUrl: string, child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`The benchmark server exited with status ${String(code)} before it was ready.`);
  });
  const ready = (async () => {
    for (;;) {
      try {
        if ((await fetch(`${baseUrl}/readyz`)).ok) {
          return;
        }
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  await Promise.race([ready, exited]);
}

/** Returns a loopback port that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') {
    throw new Error('could not read the port of a loopback listener');
  }
  return address.port;
}
