// Measures the remote engines' own time per image: `render` against loopback fakes of ComfyUI and
// Replicate that answer at once, compared in the same run with bare `fetch` calls that make the same
// requests to the same fakes. The difference is our overhead (database rows, template filling, image
// checks, storage copies, waiting loops), not the model's time.
//
// NOTE: the generation pipeline (queue, workers, job states) is not in this branch yet, so this measures
// the engines alone, in this process, on SQLite. Once the pipeline lands, a run through /start-job
// belongs here too.
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
import { FakeComfyUi } from '../test/helpers/fakes/fake-comfyui.js';
import { FakeReplicate } from '../test/helpers/fakes/fake-replicate.js';
import { MemoryStorage } from '../test/helpers/memory-storage.js';
import { formatRow } from './lib/load.js';

const IMAGES_PER_RENDER = 4;
const WARMUP_RENDERS = 5;
const MEASURED_RENDERS = 100;

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

  try {
    const results = [
      await measure('comfyui', comfyui, storage, photo, () => comfyBaseline(comfyFake)),
      await measure('replicate (polling)', replicate, storage, photo, () => replicateBaseline(replicateFake)),
    ];
    return report(results);
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
  const lines = [
    `Each render asks for ${IMAGES_PER_RENDER} images from a fake that answers at once; ${MEASURED_RENDERS} renders after ${WARMUP_RENDERS} warm-up ones,`,
    'one at a time, in the benchmark process, on SQLite. The baseline makes the same HTTP requests with bare `fetch`.',
    '',
    formatRow(['engine', 'render p50 (ms)', 'baseline p50 (ms)', 'overhead per image p50 (ms)', 'render p90 (ms)', 'baseline p90 (ms)']),
    formatRow(['---', '---', '---', '---', '---', '---']),
  ];
  for (const result of results) {
    const engine50 = percentile(result.engineMs, 50);
    const baseline50 = percentile(result.baselineMs, 50);
    lines.push(
      formatRow([
        result.name,
        engine50.toFixed(1),
        baseline50.toFixed(1),
        ((engine50 - baseline50) / IMAGES_PER_RENDER).toFixed(2),
        percentile(result.engineMs, 90).toFixed(1),
        percentile(result.baselineMs, 90).toFixed(1),
      ]),
    );
  }
  return lines.join('\n');
}

function percentile(values: number[], rank: number): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.min(sorted.length - 1, Math.floor((rank / 100) * sorted.length))]!;
}
