import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Logger } from 'pino';
import sharp from 'sharp';
import { EngineCallRepository } from '../../src/adapters/database/repositories/engine-call-repository.js';
import { ComfyUiEngine, type ComfyUiEngineOptions } from '../../src/adapters/engines/comfyui/comfyui-engine.js';
import { parseWorkflow } from '../../src/adapters/engines/comfyui/workflow.js';
import { EngineError } from '../../src/adapters/engines/generation-engine.js';
import { USER_MESSAGES } from '../../src/adapters/engines/remote/failures.js';
import { DEFAULT_COMFYUI_WORKFLOW } from '../../src/config/engine-config.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { capturingLogger, engineCalls, renderInput, type SeededJob, seedJob, taskProviderId, waitUntil } from '../helpers/engines.js';
import { FakeComfyUi } from '../helpers/fakes/fake-comfyui.js';
import { freeLoopbackPort } from '../helpers/fakes/loopback.js';
import { MemoryStorage } from '../helpers/memory-storage.js';

const PROXY_TOKEN = 'proxy-secret-7f3a9c';
const shippedWorkflow = parseWorkflow(readFileSync(DEFAULT_COMFYUI_WORKFLOW, 'utf8'));

for (const kind of DATABASE_KINDS) {
  describe(`ComfyUI engine on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let fake: FakeComfyUi;
    let storage: MemoryStorage;
    let logs: { logger: Logger; lines: string[] };
    let job: SeededJob;
    const engines: ComfyUiEngine[] = [];

    before(async () => {
      context = await createTestContext(kind);
    });
    after(async () => context?.close());

    beforeEach(async () => {
      fake = await FakeComfyUi.start();
      fake.requiredHeaders = { 'X-Proxy-Token': PROXY_TOKEN };
      storage = new MemoryStorage();
      logs = capturingLogger();
      job = await seedJob(context, storage);
    });
    afterEach(async () => {
      for (const engine of engines.splice(0)) {
        await engine.close();
      }
      await fake.close();
    });

    function engine(options: Partial<ComfyUiEngineOptions> & { maxConcurrency?: number; callTimeoutMs?: number } = {}): ComfyUiEngine {
      const created = new ComfyUiEngine(
        { calls: new EngineCallRepository(context.container.database.db), clock: context.container.clock, logger: logs.logger },
        {
          baseUrl: fake.url,
          headers: { 'X-Proxy-Token': PROXY_TOKEN },
          workflow: shippedWorkflow,
          requestTimeoutMs: 5_000,
          historyPollMs: 20,
          limits: { maxConcurrency: options.maxConcurrency ?? 2, callTimeoutMs: options.callTimeoutMs ?? 60_000, reconcileAfterMs: 1_000 },
          ...options,
        },
      );
      engines.push(created);
      return created;
    }

    async function prepared(comfyui: ComfyUiEngine): Promise<unknown> {
      return comfyui.prepare({ jobId: job.jobId, photos: job.photos, storage, signal: new AbortController().signal });
    }

    it('uploads the best reference photo once per job', async () => {
      const preparation = await prepared(engine());

      const best = job.photos[1]!;
      assert.equal(fake.uploads.length, 1);
      assert.equal(fake.uploads[0]!.filename, `${job.jobId}-${best.id}.jpg`);
      assert.equal(fake.uploads[0]!.subfolder, 'envision');
      assert.equal(fake.uploads[0]!.overwrite, 'true');
      assert.equal((await sharp(fake.uploads[0]!.data).metadata()).format, 'jpeg');
      assert.deepEqual(preparation, { referenceImages: [`envision/${job.jobId}-${best.id}.jpg`] });
    });

    it('renders a prompt into exactly its images', async () => {
      const comfyui = engine();
      const preparation = await prepared(comfyui);

      const images = await comfyui.render(renderInput(job, storage, { preparation, imageCount: 2, seed: 777 }));

      assert.equal(fake.prompts.size, 1);
      const prompt = [...fake.prompts.values()][0]!;
      assert.equal(prompt.workflow['6']!.inputs.text, 'a neon portrait of the person');
      assert.equal(prompt.workflow['7']!.inputs.text, '');
      assert.equal(prompt.workflow['10']!.inputs.seed, 777);
      assert.equal(prompt.workflow['9']!.inputs.batch_size, 2);
      assert.equal(prompt.workflow['5']!.inputs.image, `envision/${job.jobId}-${job.photos[1]!.id}.jpg`);
      assert.equal(images.length, 2);
      assert.deepEqual(
        images.map((image) => image.data),
        prompt.outputs,
      );
      assert.deepEqual(
        images.map((image) => [image.contentType, image.width, image.height]),
        [
          ['image/png', 16, 12],
          ['image/png', 16, 12],
        ],
      );
    });

    it('records the prompt id, timings and outcome', async () => {
      const comfyui = engine();
      const preparation = await prepared(comfyui);

      await comfyui.render(renderInput(job, storage, { preparation }));

      const prompt = [...fake.prompts.values()][0]!;
      const [call] = await engineCalls(context, job.jobId);
      assert.equal(call!.provider_id, prompt.id);
      assert.equal(call!.status, 'succeeded');
      assert.equal(call!.output_count, 2);
      assert.ok(call!.started_at !== null);
      assert.ok(call!.completed_at !== null && call!.completed_at >= call!.created_at);
      assert.equal(await taskProviderId(context, job.runId, 0), prompt.id);
    });

    it('sends the proxy headers on every request and never logs them', async () => {
      const comfyui = engine();
      const preparation = await prepared(comfyui);
      await comfyui.render(renderInput(job, storage, { preparation }));

      assert.ok(fake.requests.length >= 4);
      for (const request of fake.requests) {
        assert.equal(request.headers['x-proxy-token'], PROXY_TOKEN, `${request.method} ${request.path}`);
      }
      assert.ok(fake.socketHeaders.length >= 1);
      assert.equal(fake.socketHeaders[0]!['x-proxy-token'], PROXY_TOKEN);
      assert.ok(logs.lines.length > 0);
      assert.ok(!logs.lines.join('').includes(PROXY_TOKEN));
    });

    it('fails permanently on execution_error', async () => {
      fake.scenario = () => ({ kind: 'execution_error', exceptionType: 'RuntimeError', exceptionMessage: 'mat1 and mat2 shapes cannot be multiplied' });
      const comfyui = engine();
      const preparation = await prepared(comfyui);

      const error = await comfyui.render(renderInput(job, storage, { preparation })).catch((caught: unknown) => caught);

      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, false);
      assert.equal(error.userMessage, USER_MESSAGES.generic);
      assert.match(error.message, /RuntimeError: mat1 and mat2/);
      const [call] = await engineCalls(context, job.jobId);
      assert.equal(call!.status, 'failed');
      assert.equal(call!.retryable, 0);
      assert.match(call!.error ?? '', /ApplyInstantID/);
    });

    it('tells the user when no face was found', async () => {
      fake.scenario = () => ({ kind: 'execution_error', exceptionType: 'Exception', exceptionMessage: 'Feature Extractor: No face detected.' });
      const comfyui = engine();
      const preparation = await prepared(comfyui);

      const error = await comfyui.render(renderInput(job, storage, { preparation })).catch((caught: unknown) => caught);

      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, false);
      assert.equal(error.userMessage, USER_MESSAGES.noFace);
    });

    it('retries a run that ran out of GPU memory', async () => {
      fake.scenario = () => ({ kind: 'execution_error', exceptionType: 'torch.OutOfMemoryError', exceptionMessage: 'CUDA out of memory.' });
      const comfyui = engine();
      const preparation = await prepared(comfyui);

      const error = await comfyui.render(renderInput(job, storage, { preparation })).catch((caught: unknown) => caught);

      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, true);
    });

    it('finishes through /history when the websocket drops', async () => {
      fake.scenario = () => ({ kind: 'drop_socket' });
      const comfyui = engine();
      const preparation = await prepared(comfyui);

      const images = await comfyui.render(renderInput(job, storage, { preparation, imageCount: 2 }));

      const prompt = [...fake.prompts.values()][0]!;
      assert.deepEqual(
        images.map((image) => image.data),
        prompt.outputs,
      );
      assert.equal((await engineCalls(context, job.jobId))[0]!.status, 'succeeded');
    });

    it('times out and interrupts when /history stays empty', async () => {
      fake.scenario = () => ({ kind: 'history_empty' });
      const comfyui = engine({ callTimeoutMs: 300 });
      const preparation = await prepared(comfyui);

      const error = await comfyui.render(renderInput(job, storage, { preparation })).catch((caught: unknown) => caught);

      const prompt = [...fake.prompts.values()][0]!;
      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, true);
      assert.match(error.message, /timed out/);
      assert.deepEqual(fake.interrupts, [prompt.id]);
      const [call] = await engineCalls(context, job.jobId);
      assert.equal(call!.status, 'failed');
      assert.equal(call!.retryable, 1);
      assert.match(call!.error ?? '', /no result within 300 ms/);
    });

    it('removes a queued prompt when the job is deleted', async () => {
      fake.scenario = () => ({ kind: 'pending' });
      const comfyui = engine();
      const preparation = await prepared(comfyui);
      const controller = new AbortController();

      const rendering = comfyui.render(renderInput(job, storage, { preparation, signal: controller.signal })).catch((caught: unknown) => caught);
      await waitUntil(async () => (await engineCalls(context, job.jobId)).length === 1);
      controller.abort(new Error('job deleted'));
      const error = await rendering;

      const prompt = [...fake.prompts.values()][0]!;
      assert.ok(error instanceof EngineError);
      assert.match(error.message, /aborted \(job deleted\)/);
      assert.deepEqual(fake.queueDeletes, [prompt.id]);
      assert.deepEqual(fake.interrupts, []);
      assert.equal(prompt.state, 'deleted');
      assert.equal((await engineCalls(context, job.jobId))[0]!.status, 'canceled');
    });

    it('interrupts a running prompt when the job is deleted', async () => {
      fake.scenario = () => ({ kind: 'manual' });
      const comfyui = engine();
      const preparation = await prepared(comfyui);
      const controller = new AbortController();

      const rendering = comfyui.render(renderInput(job, storage, { preparation, signal: controller.signal })).catch((caught: unknown) => caught);
      await waitUntil(async () => (await engineCalls(context, job.jobId)).length === 1);
      controller.abort(new Error('job deleted'));
      const error = await rendering;

      const prompt = [...fake.prompts.values()][0]!;
      assert.ok(error instanceof EngineError);
      assert.deepEqual(fake.interrupts, [prompt.id]);
      assert.deepEqual(fake.queueDeletes, []);
      assert.equal((await engineCalls(context, job.jobId))[0]!.status, 'canceled');
    });

    it('fails permanently when ComfyUI rejects the workflow', async () => {
      fake.scenario = () => ({ kind: 'reject' });
      const comfyui = engine();
      const preparation = await prepared(comfyui);

      const error = await comfyui.render(renderInput(job, storage, { preparation })).catch((caught: unknown) => caught);

      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, false);
      assert.equal(error.userMessage, USER_MESSAGES.rejectedInput);
      assert.match(error.message, /HTTP 400/);
      assert.equal((await engineCalls(context, job.jobId)).length, 0);
    });

    it('retries HTTP 503 and succeeds on the next attempt', async () => {
      fake.promptFailures = [503];
      const comfyui = engine();
      const preparation = await prepared(comfyui);

      const first = await comfyui.render(renderInput(job, storage, { preparation })).catch((caught: unknown) => caught);
      const images = await comfyui.render(renderInput(job, storage, { preparation }));

      assert.ok(first instanceof EngineError);
      assert.equal(first.retryable, true);
      assert.equal(images.length, 2);
      assert.equal(fake.prompts.size, 1);
    });

    it('treats a refused connection as retryable', async () => {
      const port = await freeLoopbackPort();
      const comfyui = engine({ baseUrl: `http://127.0.0.1:${port}` });

      const error = await prepared(comfyui).catch((caught: unknown) => caught);

      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, true);
      assert.match(error.message, /ECONNREFUSED/);
    });

    it('runs at most maxConcurrency prompts at once', async () => {
      fake.scenario = () => ({ kind: 'manual' });
      const comfyui = engine({ maxConcurrency: 1 });
      const preparation = await prepared(comfyui);

      const first = comfyui.render(renderInput(job, storage, { preparation, promptIndex: 0 }));
      const second = comfyui.render(renderInput(job, storage, { preparation, promptIndex: 1 }));
      await waitUntil(() => fake.prompts.size === 1 && comfyui.load.waiting === 1);
      assert.equal(comfyui.load.active, 1);
      await fake.finish([...fake.prompts.keys()][0]!);
      await waitUntil(() => fake.prompts.size === 2);
      await fake.finish([...fake.prompts.keys()][1]!);
      const results = await Promise.all([first, second]);

      assert.equal(fake.maxActivePrompts, 1);
      assert.deepEqual(
        results.map((images) => images.length),
        [2, 2],
      );
    });

    it('queues one prompt per image when the workflow has no image count', async () => {
      const workflow = JSON.parse(readFileSync(DEFAULT_COMFYUI_WORKFLOW, 'utf8')) as Record<string, { inputs: Record<string, unknown> }>;
      workflow['9']!.inputs.batch_size = 1;
      const comfyui = engine({ workflow: parseWorkflow(JSON.stringify(workflow)) });
      const preparation = await prepared(comfyui);

      const images = await comfyui.render(renderInput(job, storage, { preparation, imageCount: 3, seed: 50 }));

      const prompts = [...fake.prompts.values()];
      assert.deepEqual(prompts.map((prompt) => prompt.workflow['10']!.inputs.seed).sort(), [50, 51, 52]);
      const bySeed = new Map(prompts.map((prompt) => [prompt.workflow['10']!.inputs.seed, prompt.outputs[0]]));
      assert.deepEqual(
        images.map((image) => image.data),
        [bySeed.get(50), bySeed.get(51), bySeed.get(52)],
      );
      assert.deepEqual(
        (await engineCalls(context, job.jobId)).map((call) => call.batch_index).sort(),
        [0, 1, 2],
      );
    });

    it('resumes the prompt an earlier attempt queued', async () => {
      fake.scenario = () => ({ kind: 'manual' });
      const firstWorker = engine();
      const secondWorker = engine();
      const preparation = await prepared(firstWorker);

      const first = firstWorker.render(renderInput(job, storage, { preparation }));
      await waitUntil(async () => (await engineCalls(context, job.jobId)).length === 1);
      const second = secondWorker.render(renderInput(job, storage, { preparation }));
      await fake.finish([...fake.prompts.keys()][0]!);
      const [firstImages, secondImages] = await Promise.all([first, second]);

      assert.equal(fake.prompts.size, 1);
      assert.deepEqual(firstImages, secondImages);
      assert.ok(logs.lines.some((line) => line.includes('resuming an engine call')));
    });

    it('reconciles calls nobody waits on', async () => {
      const comfyui = engine();
      const calls = new EngineCallRepository(context.container.database.db);
      const old = Date.now() - 10_000;
      const base = { engine: 'comfyui', packName: job.packName, promptIndex: 0, seed: 1, imageCount: 1, providerStatus: 'queued', createdAt: old, deadlineAt: old + 60_000 };

      fake.scenario = () => ({ kind: 'pending' });
      const orphanPromptId = await postPrompt(fake.url);
      await calls.insertCall({ ...base, id: randomUUID(), providerId: orphanPromptId, jobId: randomUUID(), batchIndex: 0 });
      await calls.insertCall({ ...base, id: randomUUID(), providerId: 'prompt-comfyui-forgot', jobId: job.jobId, batchIndex: 1 });
      fake.scenario = () => ({ kind: 'succeed' });
      const finishedPromptId = await postPrompt(fake.url);
      await waitUntil(() => fake.prompts.get(finishedPromptId)?.history !== undefined);
      await calls.insertCall({ ...base, id: randomUUID(), providerId: finishedPromptId, jobId: job.jobId, batchIndex: 2 });

      const checked = await comfyui.reconcileQuietCalls();

      assert.equal(checked, 3);
      assert.deepEqual(fake.queueDeletes, [orphanPromptId]);
      assert.equal((await calls.findCallByProviderId('comfyui', orphanPromptId))!.status, 'canceled');
      const forgotten = await calls.findCallByProviderId('comfyui', 'prompt-comfyui-forgot');
      assert.equal(forgotten!.status, 'failed');
      assert.match(forgotten!.error ?? '', /no record/);
      assert.equal((await calls.findCallByProviderId('comfyui', finishedPromptId))!.status, 'succeeded');
    });
  });
}

/** Queues a prompt on the fake directly, as another worker would have. */
async function postPrompt(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/prompt`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-proxy-token': PROXY_TOKEN },
    body: JSON.stringify({ prompt: { '9': { class_type: 'EmptyLatentImage', inputs: { batch_size: 1 } } }, client_id: 'another-worker' }),
  });
  return ((await response.json()) as { prompt_id: string }).prompt_id;
}
