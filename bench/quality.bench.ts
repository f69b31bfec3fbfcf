// The photo quality gate: how many photos a pool of N threads analyses per second, and how fast the
// API's other endpoints stay while photos are being analysed in the same process.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatRow, runLoad, stopChild } from './lib/load.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PHOTO_NAMES = ['astronaut', 'camera', 'coffee', 'chelsea'];
const PHOTOS_PER_RUN = 16;
const LOAD_SECONDS = 6;
// The public pack catalog, served from memory, with the twelve packs the migrations seed.
const ENDPOINT = '/packs-info';

interface ThroughputResult {
  threads: number;
  photosPerSecond: number;
  secondsPerPhoto: number;
}

/** Analyses PHOTOS_PER_RUN fixture photos, two in flight per thread, after a warm-up that loads the models. */
async function measureThroughput(threads: number): Promise<ThroughputResult> {
  const { FaceAnalysisPool } = await import(pathToFileURL(path.join(root, 'dist', 'adapters', 'faces', 'face-analysis-pool.js')).href);
  const photos = PHOTO_NAMES.map((name) => readFileSync(path.join(root, 'test', 'fixtures', 'photos', `${name}.png`)));
  const pool = new FaceAnalysisPool({ threads });
  try {
    await Promise.all(Array.from({ length: threads }, (_, index) => pool.analyze(photos[index % photos.length]!)));

    let next = 0;
    const started = performance.now();
    const lane = async () => {
      while (next < PHOTOS_PER_RUN) {
        const index = next++;
        await pool.analyze(photos[index % photos.length]!);
      }
    };
    await Promise.all(Array.from({ length: threads * 2 }, lane));
    const seconds = (performance.now() - started) / 1000;
    return { threads, photosPerSecond: PHOTOS_PER_RUN / seconds, secondsPerPhoto: (seconds * threads) / PHOTOS_PER_RUN };
  } finally {
    await pool.close();
  }
}

interface LatencyResult {
  mode: string;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  photosAnalysed: number;
}

/** Starts bench/lib/analysis-server.ts in `mode`, loads ENDPOINT for LOAD_SECONDS, and stops it. */
async function measureLatency(mode: string, threads: number): Promise<LatencyResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'lib', 'analysis-server.ts')], {
    cwd: root,
    env: { ...process.env, ANALYSIS_MODE: mode, ANALYSIS_IN_FLIGHT: String(threads * 2), QUALITY_GATE_THREADS: String(threads) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = readLines(child.stdout!);
  try {
    const { port } = JSON.parse(await lines.next()) as { port: number };
    const load = await runLoad({ url: `http://127.0.0.1:${port}${ENDPOINT}`, connections: 8, durationSeconds: LOAD_SECONDS });
    if (load.non2xx > 0 || load.errors > 0) {
      throw new Error(`${ENDPOINT} failed under load in mode ${mode}: ${load.non2xx} non-2xx, ${load.errors} errors`);
    }
    const stopped = stopChild(child);
    const { analysed } = JSON.parse(await lines.next()) as { analysed: number };
    await stopped;
    return { mode, ...load, photosAnalysed: analysed };
  } finally {
    await stopChild(child);
  }
}

function readLines(stream: NodeJS.ReadableStream): { next(): Promise<string> } {
  let buffered = '';
  const ready: string[] = [];
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    ready.push(...parts.filter((line) => line.trim() !== ''));
  });
  return {
    async next() {
      while (ready.length === 0) {
        await once(stream, 'data');
      }
      return ready.shift()!;
    },
  };
}

export default async function qualityBench(): Promise<string> {
  const throughput: ThroughputResult[] = [];
  for (const threads of [1, 2]) {
    throughput.push(await measureThroughput(threads));
  }

  const latencyThreads = 1;
  const latency: LatencyResult[] = [];
  for (const mode of ['idle', 'workers', 'main-thread']) {
    latency.push(await measureLatency(mode, latencyThreads));
  }
  const idle = latency[0]!;

  return [
    `Photo analysis (${PHOTO_NAMES.map((name) => `${name}.png`).join(', ')}, in turn; ${PHOTOS_PER_RUN} photos after a warm-up, two in flight per thread):`,
    '',
    formatRow(['threads', 'photos/s', 'thread-seconds per photo']),
    formatRow(['---:', '---:', '---:']),
    ...throughput.map((row) => formatRow([row.threads, row.photosPerSecond.toFixed(2), row.secondsPerPhoto.toFixed(2)])),
    '',
    `\`GET ${ENDPOINT}\` under autocannon (8 connections, ${LOAD_SECONDS} s) on the built server, idle and while the same process analyses photos (${latencyThreads * 2} in flight):`,
    '',
    formatRow(['analysis', 'requests/s', 'p50 ms', 'p99 ms', 'p99 vs idle', 'photos analysed meanwhile']),
    formatRow(['---', '---:', '---:', '---:', '---:', '---:']),
    ...latency.map((row) =>
      formatRow([
        describeMode(row.mode, latencyThreads),
        row.requestsPerSecond,
        row.latencyP50Ms,
        row.latencyP99Ms,
        `${(row.latencyP99Ms / Math.max(idle.latencyP99Ms, 1)).toFixed(1)}×`,
        row.photosAnalysed,
      ]),
    ),
  ].join('\n');
}

function describeMode(mode: string, threads: number): string {
  if (mode === 'workers') {
    return `on ${threads} worker thread${threads === 1 ? '' : 's'} (the gate)`;
  }
  if (mode === 'main-thread') {
    return 'on the event loop (for comparison)';
  }
  return 'none (idle)';
}
