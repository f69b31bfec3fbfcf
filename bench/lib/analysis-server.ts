// Serves the built API (dist/) on a loopback port for bench/quality.bench.ts and, depending on
// ANALYSIS_MODE, keeps photos being analysed inside the same process:
//   idle         no analysis, the baseline.
//   workers      ANALYSIS_IN_FLIGHT photos at a time through the container's quality gate (worker threads).
//   main-thread  the same models called on the event loop, to show what the worker threads buy.
// It prints {"port": N} when listening, and {"analysed": N} when stopped with SIGTERM.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fromDist = (module: string) => import(pathToFileURL(path.join(root, 'dist', module)).href);

const { loadConfig } = await fromDist('config/config.js');
const { migrateToLatest, openDatabase } = await fromDist('adapters/database/database.js');
const { createContainer } = await fromDist('container.js');
const { buildApp } = await fromDist('http/app.js');

const mode = process.env.ANALYSIS_MODE ?? 'idle';
const inFlight = Number(process.env.ANALYSIS_IN_FLIGHT ?? '2');
const dataDir = mkdtempSync(path.join(tmpdir(), 'envision-bench-quality-'));
const config = loadConfig({
  ...process.env,
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  DATA_DIR: dataDir,
  DATABASE_URL: path.join(dataDir, 'bench.sqlite'),
  JWT_SECRET: 'bench-secret-that-is-long-enough-for-hs256-0123456789',
});
const connection = openDatabase(config.databaseUrl);
await migrateToLatest(connection.db);
const container = await createContainer(config, { database: connection });
const app = await buildApp(container);

const photos = ['astronaut', 'camera', 'coffee', 'chelsea'].map((name) => readFileSync(path.join(root, 'test', 'fixtures', 'photos', `${name}.png`)));
let analysed = 0;
let stopping = false;
let reportFirstAnalysis: () => void = () => undefined;
const firstAnalysis = new Promise<void>((resolve) => {
  reportFirstAnalysis = resolve;
});

function countAnalysis(): void {
  analysed += 1;
  reportFirstAnalysis();
}

async function analyseOnWorkers(lane: number): Promise<void> {
  for (let index = lane; !stopping; index += 1) {
    const image = photos[index % photos.length]!;
    await container.qualityGate.inspect({ image, width: 0, height: 0, acceptedPhotos: [] });
    countAnalysis();
  }
}

async function analyseOnMainThread(): Promise<void> {
  const { analyzeRgbImage, loadFaceModels } = await fromDist('adapters/faces/face-models.js');
  await loadFaceModels();
  for (let index = 0; !stopping; index += 1) {
    const { data, info } = await sharp(photos[index % photos.length]!).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    await analyzeRgbImage({ pixels: new Uint8Array(data), width: info.width, height: info.height });
    countAnalysis();
  }
}

const work: Array<Promise<void>> = [];
if (mode === 'workers') {
  for (let lane = 0; lane < inFlight; lane += 1) {
    work.push(analyseOnWorkers(lane));
  }
} else if (mode === 'main-thread') {
  work.push(analyseOnMainThread());
}
if (work.length > 0) {
  // Measure only once the models are loaded and photos are flowing.
  await firstAnalysis;
}

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
console.log(JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 }));

process.once('SIGTERM', () => {
  stopping = true;
  console.log(JSON.stringify({ analysed }));
  void Promise.allSettled(work)
    .then(() => app.close())
    .then(() => container.close())
    .finally(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    });
});
