// Measures the remote engines' own time per image: `render` against loopback fakes of ComfyUI and
// Replicate that answer at once, compared in the same run with bare `fetch` calls that make the same
// requests to the same fakes. The difference is our overhead (database rows, template filling, image
// checks, storage copies, waiting loops), not the model's time.
//
// A second table measures the pipeline's own time per image: a one-prompt pack started through
// POST /start-job and followed until its run is completed, next to the same engine's prepare and render
// of a new job, alternating on the same engine objects and fakes. Everything runs in this process on
// SQLite, as bench/pipeline.bench.ts does; the HTTP requests go through Fastify's inject, not a socket.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { migrateToLatest, openDatabase } from '../src/adapters/database/database.js';
import { EngineCallRepository } from '../src/adapters/database/repositories/engine-call-repository.js';
import { ComfyUiEngine } from '../src/adapters/engines/comfyui/comfyui-engine.js';
import { parseWorkflow } from '../src/adapters/engines/comfyui/workflow.js';
import type { GenerationEngine, RenderInput } from '../src/adapters/engines/generation-engine.js';
import { ReplicateEngine } from '../src/adapters/engines/replicate/replicate-engine.js';
import { inspectTemplate } from '../src/adapters/engines/remote/templates.js';
import { DEFAULT_COMFYUI_WORKFLOW } from '../src/config/engine-config.js';
import { systemClock } from '../src/domain/clock.js';
import { buildApp } from '../src/http/app.js';
import { createContainer } from '../src/container.js';
import { startWorkers } from '../src/start/workers.js';
import { testConfig } from '../test/helpers/app.js';
import { insertTestJob, insertTestPack } from '../test/helpers/generation.js';
import { insertUser } from '../test/helpers/users.js';
import { FakeComfyUi } from '../test/helpers/fakes/fake-comfyui.js';
import { FakeReplicate } from '../test/helpers/fakes/fake-replicate.js';
import { MemoryStorage } from '../test/helpers/memory-storage.js';
import { formatRow } from './lib/load.js';

const IMAGES_PER_RENDER = 4;
const WARMUP_RENDERS = 5;
const MEASURED_RENDERS = 100;
const MEASURED_PIPELINE_RUNS = 40;
/** The smallest idle poll the configuration accepts; workers also wake when a run is started here. */
const WORKER_POLL_INTERVAL_MS = 10;

interface Measurement {
  name: string;
  engineMs: number[];
  baselineMs: number[];
}

export default async function run(): Promise<string> {
  const directory = mkdtempSync(path.join(tmpdir(), 'envision-bench-engines-'));
  const connection = openDatabase(path.join(directory, 'bench.sqlite'));
  await migrateToLatest(connection.db);
  const dependencies = { calls: new EngineCallRepository(connection.db), clock: systemClock, logger: pino({ level: 'silent' }) };
  const storage = new MemoryStorage();
  const photo = { id: randomUUID(), storageKey: 'jobs/bench/photos/astronaut.png', width: 512, height: 512, faceBox: { x: 0, y: 0, width: 200, height: 200 } };
  await storage.put(photo.storageKey, readFileSync(new URL('../test/fixtures/photos/astronaut.png', import.meta.url)), 'image/png');

  const comfyFake = await FakeComfyUi.start();
  const replicateFake = await FakeReplicate.start();
  const limits = { maxConcurrency: 4, callTimeoutMs: 60_000, reconcileAfterMs: 60_000 };
  const comfyui = new ComfyUiEngine(dependencies, {
    baseUrl: comfyFake.url,
    headers: {},
    workflow: parseWorkflow(readFileSync(DEFAULT_COMFYUI_WORKFLOW, 'utf8')),
    requestTimeoutMs: 10_000,
    historyPollMs: 1,
    limits,
  });
  const template = { prompt: '{{prompt}}', seed: '{{seed}}', num_outputs: '{{image_count}}', image: '{{reference_image}}' };
  replicateFake.script = () => ({ outcome: 'succeeded', webhook: 'never' });
  const replicate = new ReplicateEngine(dependencies, {
    apiToken: replicateFake.apiToken,
    baseUrl: replicateFake.url,
    model: 'fake/identity',
    input: { template, usage: inspectTemplate(template) },
    webhookUrl: undefined,
    webhookSecret: undefined,
    imageInput: 'data-uri',
    requestTimeoutMs: 10_000,
    pollIntervalMs: 1,
    limits,
    storage,
  });

  const photoBytes = readFileSync(new URL('../test/fixtures/photos/astronaut.png', import.meta.url));
  try {
    const results = [
      await measure('comfyui', comfyui, storage, photo, () => comfyBaseline(comfyFake)),
      await measure('replicate (polling)', replicate, storage, photo, () => replicateBaseline(replicateFake)),
    ];
    const pipeline = await measurePipeline({ connection, directory, storage, photoBytes, engines: { comfyui, replicate } });
    return `${report(results)}\n\n${reportPipeline(pipeline)}`;
  } finally {
    await comfyui.close();
    await replicate.close();
    await comfyFake.close();
    await replicateFake.close();
    await connection.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function measure(
  name: string,
  engine: GenerationEngine,
  storage: MemoryStorage,
  photo: { id: string; storageKey: string; width: number; height: number; faceBox: { x: number; y: number; width: number; height: number } },
  baseline: () => Promise<void>,
): Promise<Measurement> {
  const jobId = randomUUID();
  const preparation = await engine.prepare({ jobId, photos: [photo], storage, signal: new AbortController().signal });
  const input = (promptIndex: number): RenderInput => ({
    jobId,
    packName: 'bench',
    promptIndex,
    prompt: 'a portrait',
    negativePrompt: null,
    seed: promptIndex,
    imageCount: IMAGES_PER_RENDER,
    preparation,
    storage,
    signal: new AbortController().signal,
  });

  const engineMs: number[] = [];
  const baselineMs: number[] = [];
  for (let index = 0; index < WARMUP_RENDERS + MEASURED_RENDERS; index += 1) {
    // Alternate the two, so drift in the machine's speed affects both alike.
    const engineStart = performance.now();
    const images = await engine.render(input(index));
    const engineEnd = performance.now();
    await baseline();
    const baselineEnd = performance.now();
    if (images.length !== IMAGES_PER_RENDER) {
      throw new Error(`${name} returned ${images.length} images, expected ${IMAGES_PER_RENDER}`);
    }
    if (index >= WARMUP_RENDERS) {
      engineMs.push(engineEnd - engineStart);
      baselineMs.push(baselineEnd - engineEnd);
    }
  }
  return { name, engineMs, baselineMs };
}

interface PipelineMeasurement {
  name: string;
  pipelineMs: number[];
  engineMs: number[];
}

/**
 * Alternates two ways of making one prompt's images on each engine: a run through POST /start-job until
 * the run is completed (queue, worker, job state, result storage), and `prepare` plus `render` of a new
 * job straight on the engine. Both make a new job each time, so both include the preparation.
 */
async function measurePipeline(setup: {
  connection: ReturnType<typeof openDatabase>;
  directory: string;
  storage: MemoryStorage;
  photoBytes: Buffer;
  engines: Record<'comfyui' | 'replicate', GenerationEngine>;
}): Promise<PipelineMeasurement[]> {
  const { connection, storage } = setup;
  const config = testConfig(path.join(setup.directory, 'bench.sqlite'), setup.directory, {
    WORKER_POLL_INTERVAL_MS: String(WORKER_POLL_INTERVAL_MS),
    ENGINE_RECONCILE_INTERVAL_MS: '0',
  });
  // The benchmark closes the shared connection itself, after this container is closed.
  const sharedConnection = { ...connection, close: async () => undefined };
  const container = await createContainer(config, { database: sharedConnection, storage, engines: setup.engines, logger: pino({ level: 'silent' }) });
  const app = await buildApp(container);
  await app.ready();
  const workers = startWorkers(container);
  const userId = await insertUser(connection.db, Date.now());
  const authorization = `Bearer ${await container.tokens.issue(userId)}`;

  /** Inserts a job with one photo whose bytes are in storage, as /upload would leave it. */
  async function newJob(): Promise<{ jobId: string; photos: Array<{ id: string; storageKey: string; width: number; height: number; faceBox: null }> }> {
    const jobId = await insertTestJob(connection.db, userId, { photoCount: 1 });
    const rows = await connection.db.selectFrom('photos').select(['id', 'storage_key']).where('job_id', '=', jobId).execute();
    for (const row of rows) {
      await storage.put(row.storage_key, setup.photoBytes, 'image/png');
    }
    return { jobId, photos: rows.map((row) => ({ id: row.id, storageKey: row.storage_key, width: 512, height: 512, faceBox: null })) };
  }

  const measurements: PipelineMeasurement[] = [];
  try {
    for (const name of ['comfyui', 'replicate'] as const) {
      const engine = setup.engines[name];
      const packName = await insertTestPack(connection.db, { name: `bench_${name}`, numPrompts: 1, numImagesPerPrompt: IMAGES_PER_RENDER, engine: name });
      const measurement: PipelineMeasurement = { name, pipelineMs: [], engineMs: [] };
      for (let index = 0; index < WARMUP_RENDERS + MEASURED_PIPELINE_RUNS; index += 1) {
        const throughPipeline = await newJob();
        const pipelineStart = performance.now();
        const started = await app.inject({ method: 'POST', url: '/start-job', headers: { authorization }, payload: { jobId: throughPipeline.jobId, pack_name: packName } });
        if (started.statusCode !== 202) {
          throw new Error(`/start-job returned ${started.statusCode}: ${started.body}`);
        }
        await waitForCompletedRun(connection, throughPipeline.jobId);
        const pipelineEnd = performance.now();

        const alone = await newJob();
        const engineStart = performance.now();
        const signal = new AbortController().signal;
        const preparation = await engine.prepare({ jobId: alone.jobId, photos: alone.photos, storage, signal });
        const images = await engine.render({
          jobId: alone.jobId,
          packName,
          promptIndex: 0,
          prompt: 'test prompt 0',
          negativePrompt: null,
          seed: index,
          imageCount: IMAGES_PER_RENDER,
          preparation,
          storage,
          signal,
        });
        const engineEnd = performance.now();
        if (images.length !== IMAGES_PER_RENDER) {
          throw new Error(`${name} returned ${images.length} images, expected ${IMAGES_PER_RENDER}`);
        }
        if (index >= WARMUP_RENDERS) {
          measurement.pipelineMs.push(pipelineEnd - pipelineStart);
          measurement.engineMs.push(engineEnd - engineStart);
        }
      }
      measurements.push(measurement);
    }
    return measurements;
  } finally {
    await workers.stop(5_000);
    await app.close();
    await container.close();
  }
}

/** Polls the job's run every millisecond until it is completed; throws if it ends otherwise. */
async function waitForCompletedRun(connection: ReturnType<typeof openDatabase>, jobId: string): Promise<void> {
  for (;;) {
    const run = await connection.db.selectFrom('runs').select(['status', 'failed_reason']).where('job_id', '=', jobId).executeTakeFirst();
    if (run?.status === 'completed') {
      return;
    }
    if (run?.status === 'failed' || run?.status === 'partial') {
      throw new Error(`the benchmark run of job ${jobId} ended ${run.status}: ${String(run.failed_reason)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function reportPipeline(results: PipelineMeasurement[]): string {
  return [
    `Pipeline: a pack of one prompt × ${IMAGES_PER_RENDER} images started with POST /start-job and followed until the run is`,
    `completed, ${MEASURED_PIPELINE_RUNS} runs after ${WARMUP_RENDERS} warm-up ones, one at a time, WORKER_POLL_INTERVAL_MS=${WORKER_POLL_INTERVAL_MS}.`,
    'Baseline, alternating with it: `prepare` and `render` of a new job on the same engine object and fakes.',
    '',
    ...comparisonTable(
      { measured: 'pipeline run', baseline: 'engine alone', overhead: 'pipeline overhead per image' },
      results.map((result) => ({ name: result.name, measuredMs: result.pipelineMs, baselineMs: result.engineMs })),
    ),
  ].join('\n');
}

/** The requests a ComfyUI render needs, made with bare fetch: queue, read the history until done, fetch the images. */
async function comfyBaseline(fake: FakeComfyUi): Promise<void> {
  const workflow = { '9': { class_type: 'EmptyLatentImage', inputs: { batch_size: IMAGES_PER_RENDER } } };
  const queued = await fetch(`${fake.url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt: workflow, client_id: 'baseline' }) });
  const { prompt_id: promptId } = (await queued.json()) as { prompt_id: string };
  let history: Record<string, { outputs: Record<string, { images: Array<{ filename: string; type: string }> }> }> = {};
  while (history[promptId] === undefined) {
    history = (await (await fetch(`${fake.url}/history/${promptId}`)).json()) as typeof history;
  }
  for (const file of history[promptId]!.outputs['12']!.images) {
    await (await fetch(`${fake.url}/view?filename=${file.filename}&subfolder=&type=${file.type}`)).arrayBuffer();
  }
}

/** The requests a polled Replicate render needs: create, get until it ends, download each output. */
async function replicateBaseline(fake: FakeReplicate): Promise<void> {
  const headers = { authorization: `Bearer ${fake.apiToken}`, 'content-type': 'application/json' };
  const created = await fetch(`${fake.url}/models/fake/identity/predictions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ input: { prompt: 'a portrait', num_outputs: IMAGES_PER_RENDER } }),
  });
  let prediction = (await created.json()) as { id: string; status: string; output: string[] | null };
  while (prediction.status !== 'succeeded') {
    prediction = (await (await fetch(`${fake.url}/predictions/${prediction.id}`, { headers })).json()) as typeof prediction;
  }
  for (const url of prediction.output ?? []) {
    await (await fetch(url)).arrayBuffer();
  }
}

function report(results: Measurement[]): string {
  return [
    `Each render asks for ${IMAGES_PER_RENDER} images from a fake that answers at once; ${MEASURED_RENDERS} renders after ${WARMUP_RENDERS} warm-up ones,`,
    'one at a time, in the benchmark process, on SQLite. The baseline makes the same HTTP requests with bare `fetch`.',
    '',
    ...comparisonTable(
      { measured: 'render', baseline: 'baseline', overhead: 'overhead per image' },
      results.map((result) => ({ name: result.name, measuredMs: result.engineMs, baselineMs: result.baselineMs })),
    ),
  ].join('\n');
}

/** Formats a Markdown table of p50 and p90 per engine, with the p50 difference divided by the images per render. */
function comparisonTable(
  labels: { measured: string; baseline: string; overhead: string },
  results: Array<{ name: string; measuredMs: number[]; baselineMs: number[] }>,
): string[] {
  const lines = [
    formatRow(['engine', `${labels.measured} p50 (ms)`, `${labels.baseline} p50 (ms)`, `${labels.overhead} p50 (ms)`, `${labels.measured} p90 (ms)`, `${labels.baseline} p90 (ms)`]),
    formatRow(['---', '---', '---', '---', '---', '---']),
  ];
  for (const result of results) {
    const measured50 = percentile(result.measuredMs, 50);
    const baseline50 = percentile(result.baselineMs, 50);
    lines.push(
      formatRow([
        result.name,
        measured50.toFixed(1),
        baseline50.toFixed(1),
        ((measured50 - baseline50) / IMAGES_PER_RENDER).toFixed(2),
        percentile(result.measuredMs, 90).toFixed(1),
        percentile(result.baselineMs, 90).toFixed(1),
      ]),
    );
  }
  return lines;
}

function percentile(values: number[], rank: number): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.min(sorted.length - 1, Math.floor((rank / 100) * sorted.length))]!;
}
