import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, beforeEach, describe, it } from 'node:test';
import { USER_MESSAGES } from '../../src/adapters/engines/remote/failures.js';
import { type RunningWorkers, startWorkers } from '../../src/start/workers.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { engineCalls } from '../helpers/engines.js';
import { FakeComfyUi } from '../helpers/fakes/fake-comfyui.js';
import { FakeReplicate } from '../helpers/fakes/fake-replicate.js';
import { freeLoopbackPort } from '../helpers/fakes/loopback.js';
import { waitFor } from '../helpers/generation.js';
import { exportCatalog, PACK_PATH_PREFIX } from '../helpers/packs.js';
import { openJob, uploadImage } from '../helpers/uploads.js';
import { createTestUser, type TestUser } from '../helpers/users.js';

const PHOTO = new URL('../fixtures/photos/astronaut.jpg', import.meta.url);
const COMFYUI_PACK = 'fake_comfyui_pack';
const REPLICATE_PACK = 'fake_replicate_pack';
const PROMPTS = ['studio portrait', 'beach portrait'];
const PIPELINE_TASK_TIMEOUT_MS = 100;

interface FinishedJob {
  status: string;
  progress: { done: number; total: number };
  reason: string | null;
  images: Array<{ url: string }>;
}

/**
 * Runs packs on the ComfyUI and Replicate fakes through /start-job, the queue's workers and /job-status,
 * the way a user would, and checks each provider outcome ends in the right job state and images.
 */
for (const kind of DATABASE_KINDS) {
  describe(`remote engines through the pipeline on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let workers: RunningWorkers;
    let comfyui: FakeComfyUi;
    let replicate: FakeReplicate;
    let user: TestUser;
    /** Prompts and predictions made before the current test; tests run one at a time, so the rest are its own. */
    let earlierPrompts = 0;
    let earlierPredictions = 0;

    before(async () => {
      comfyui = await FakeComfyUi.start();
      replicate = await FakeReplicate.start();
      const port = await freeLoopbackPort();
      context = await createTestContext(kind, {
        env: {
          WORKER_POLL_INTERVAL_MS: '20',
          // Far below the engines' call timeouts (ten minutes by default), which must win.
          TASK_TIMEOUT_MS: String(PIPELINE_TASK_TIMEOUT_MS),
          TASK_RETRY_BASE_DELAY_MS: '0',
          TASK_RETRY_MAX_DELAY_MS: '0',
          TASK_MAX_ATTEMPTS: '3',
          COMFYUI_URL: comfyui.url,
          COMFYUI_HISTORY_POLL_MS: '20',
          REPLICATE_API_TOKEN: replicate.apiToken,
          REPLICATE_BASE_URL: replicate.url,
          REPLICATE_MODEL: 'fake/identity',
          REPLICATE_INPUT: JSON.stringify({ prompt: '{{prompt}}', seed: '{{seed}}', num_outputs: '{{image_count}}', main_face_image: '{{reference_image}}' }),
          REPLICATE_WEBHOOK_URL: `http://127.0.0.1:${port}/webhooks/replicate`,
          REPLICATE_WEBHOOK_SECRET: replicate.webhookSecret,
          // Polling is what finds predictions whose webhook never comes.
          REPLICATE_POLL_INTERVAL_MS: '300',
          ENGINE_RECONCILE_INTERVAL_MS: '0',
        },
      });
      await context.app.listen({ host: '127.0.0.1', port });

      // The packs go in through the catalog import, as an operator adds them, so the catalog version is raised.
      const catalog = await exportCatalog(context);
      const template = Object.entries(catalog).find(([path]) => path.startsWith(PACK_PATH_PREFIX))![1];
      const versionBefore = (await context.container.packs.importCatalog(catalog, { replace: false })).version;
      const packFields = (engine: string) => ({
        ...template,
        'display-name': `On ${engine}`,
        is_active: true,
        num_prompts: PROMPTS.length,
        num_images_per_prompt: 2,
        prompts: PROMPTS.map((prompt) => ({ prompt })),
        engine,
      });
      const imported = await context.container.packs.importCatalog(
        { ...catalog, [`${PACK_PATH_PREFIX}${COMFYUI_PACK}`]: packFields('comfyui'), [`${PACK_PATH_PREFIX}${REPLICATE_PACK}`]: packFields('replicate') },
        { replace: false },
      );
      assert.ok(imported.version > versionBefore, 'the import raises the catalog version');

      workers = startWorkers(context.container);
    });
    after(async () => {
      await workers?.stop(5_000);
      await context?.close();
      await comfyui?.close();
      await replicate?.close();
    });

    beforeEach(async () => {
      comfyui.scenario = () => ({ kind: 'succeed' });
      replicate.script = () => ({ outcome: 'succeeded', webhook: 'send' });
      user = await createTestUser(context);
      earlierPrompts = comfyui.prompts.size;
      earlierPredictions = replicate.predictions.size;
    });

    async function startJob(packName: string): Promise<string> {
      const jobId = await openJob(context, user);
      const photo = await readFile(PHOTO);
      for (let index = 0; index < 2; index += 1) {
        const uploaded = await uploadImage(context, user, jobId, photo, `selfie-${index}.jpg`);
        assert.ok(uploaded.statusCode < 300, uploaded.body);
      }
      const started = await context.app.inject({ method: 'POST', url: '/start-job', headers: user.authorization, payload: { jobId, pack_name: packName } });
      assert.equal(started.statusCode, 202, started.body);
      return jobId;
    }

    async function jobStatus(jobId: string): Promise<FinishedJob & { statusCode: number }> {
      const response = await context.app.inject({ method: 'GET', url: `/job-status?jobId=${jobId}`, headers: user.authorization });
      return { statusCode: response.statusCode, ...(response.json() as FinishedJob) };
    }

    async function finished(jobId: string): Promise<FinishedJob> {
      return waitFor(`job ${jobId} to finish`, async () => {
        const body = await jobStatus(jobId);
        return ['completed', 'partial', 'failed'].includes(body.status) ? body : undefined;
      });
    }

    /** The delivered images' bytes, base64, sorted. */
    async function downloaded(job: FinishedJob): Promise<string[]> {
      const images: string[] = [];
      for (const image of job.images) {
        const link = new URL(image.url);
        const response = await context.app.inject({ method: 'GET', url: `${link.pathname}${link.search}` });
        assert.equal(response.statusCode, 200);
        images.push(response.rawPayload.toString('base64'));
      }
      return images.sort();
    }

    function base64Sorted(buffers: Buffer[]): string[] {
      return buffers.map((buffer) => buffer.toString('base64')).sort();
    }

    async function tasksOf(jobId: string) {
      return context.container.database.db
        .selectFrom('generation_tasks')
        .innerJoin('runs', 'runs.id', 'generation_tasks.run_id')
        .select(['generation_tasks.prompt_index', 'generation_tasks.provider_id', 'generation_tasks.status', 'generation_tasks.attempts'])
        .where('runs.job_id', '=', jobId)
        .orderBy('generation_tasks.prompt_index')
        .execute();
    }

    function newComfyPrompts() {
      return [...comfyui.prompts.values()].slice(earlierPrompts);
    }

    function newPredictions() {
      return [...replicate.predictions.values()].slice(earlierPredictions);
    }

    it('completes a ComfyUI pack with exactly its images', async () => {
      const jobId = await startJob(COMFYUI_PACK);
      const job = await finished(jobId);

      assert.equal(job.status, 'completed');
      assert.deepEqual(job.progress, { done: 4, total: 4 });
      const prompts = newComfyPrompts();
      assert.equal(prompts.length, 2);
      assert.deepEqual(await downloaded(job), base64Sorted(prompts.flatMap((prompt) => prompt.outputs)));

      const tasks = await tasksOf(jobId);
      const calls = await engineCalls(context, jobId);
      assert.deepEqual(tasks.map((task) => task.provider_id).sort(), prompts.map((prompt) => prompt.id).sort());
      assert.deepEqual(calls.map((call) => call.provider_id).sort(), prompts.map((prompt) => prompt.id).sort());
      for (const call of calls) {
        assert.equal(call.engine, 'comfyui');
        assert.equal(call.status, 'succeeded');
        assert.ok(call.completed_at !== null && call.completed_at >= call.created_at, 'the call records when it ended');
      }
    });

    it('ends a ComfyUI execution_error prompt with a reason', async () => {
      comfyui.scenario = (prompt) =>
        JSON.stringify(prompt.workflow).includes(PROMPTS[0]!)
          ? { kind: 'execution_error', exceptionType: 'RuntimeError', exceptionMessage: 'mat1 and mat2 shapes cannot be multiplied' }
          : { kind: 'succeed' };
      const jobId = await startJob(COMFYUI_PACK);
      const job = await finished(jobId);

      assert.equal(job.status, 'partial');
      assert.deepEqual(job.progress, { done: 2, total: 4 });
      assert.equal(job.reason, `1 of 2 prompts could not be rendered. ${USER_MESSAGES.generic}`);
      const succeeded = newComfyPrompts().filter((prompt) => prompt.state === 'done');
      assert.equal(succeeded.length, 1);
      assert.deepEqual(await downloaded(job), base64Sorted(succeeded[0]!.outputs));

      const failedTask = (await tasksOf(jobId)).find((task) => task.prompt_index === 0)!;
      assert.equal(failedTask.status, 'failed');
      assert.equal(failedTask.attempts, 1, 'a permanent failure is not retried');
      const failedCall = (await engineCalls(context, jobId)).find((call) => call.provider_id === failedTask.provider_id)!;
      assert.equal(failedCall.status, 'failed');
      assert.match(failedCall.error ?? '', /mat1 and mat2/);
    });

    it('completes a ComfyUI pack after the websocket drops', async () => {
      comfyui.scenario = () => ({ kind: 'drop_socket' });
      const jobId = await startJob(COMFYUI_PACK);
      const job = await finished(jobId);

      assert.equal(job.status, 'completed');
      assert.deepEqual(await downloaded(job), base64Sorted(newComfyPrompts().flatMap((prompt) => prompt.outputs)));
    });

    it('interrupts ComfyUI work of a deleted job', async () => {
      comfyui.scenario = () => ({ kind: 'manual' });
      const jobId = await startJob(COMFYUI_PACK);
      await waitFor('both prompts to run', async () => (newComfyPrompts().filter((prompt) => prompt.state === 'running').length === 2 ? true : undefined));

      const deleted = await context.app.inject({ method: 'DELETE', url: `/job?jobId=${jobId}`, headers: user.authorization });
      assert.equal(deleted.statusCode, 200);
      await waitFor('ComfyUI to be told to stop both prompts', async () =>
        newComfyPrompts().every((prompt) => ['interrupted', 'deleted'].includes(prompt.state)) ? true : undefined,
      );
      assert.equal((await jobStatus(jobId)).statusCode, 404);
    });

    it('lets a ComfyUI render outlast TASK_TIMEOUT_MS', async () => {
      comfyui.scenario = () => ({ kind: 'manual' });
      const interruptsBefore = comfyui.interrupts.length;
      const jobId = await startJob(COMFYUI_PACK);
      await waitFor('both prompts to run', async () => (newComfyPrompts().filter((prompt) => prompt.state === 'running').length === 2 ? true : undefined));
      // Wait well past the pipeline's own deadline before the provider finishes.
      await new Promise((resolve) => setTimeout(resolve, PIPELINE_TASK_TIMEOUT_MS * 3));
      for (const prompt of newComfyPrompts()) {
        await comfyui.finish(prompt.id);
      }
      const job = await finished(jobId);

      assert.equal(job.status, 'completed');
      assert.equal(comfyui.interrupts.length, interruptsBefore, 'no prompt was interrupted');
      assert.deepEqual(
        (await tasksOf(jobId)).map((task) => task.attempts),
        [1, 1],
      );
      assert.equal(newComfyPrompts().length, 2, 'no prompt was queued again');
    });

    it('completes a Replicate pack with exactly its images', async () => {
      const jobId = await startJob(REPLICATE_PACK);
      const job = await finished(jobId);

      assert.equal(job.status, 'completed');
      assert.deepEqual(job.progress, { done: 4, total: 4 });
      const predictions = newPredictions();
      assert.equal(predictions.length, 2);
      assert.deepEqual(await downloaded(job), base64Sorted(predictions.flatMap((prediction) => prediction.outputs)));

      const tasks = await tasksOf(jobId);
      const calls = await engineCalls(context, jobId);
      assert.deepEqual(tasks.map((task) => task.provider_id).sort(), predictions.map((prediction) => prediction.id).sort());
      for (const call of calls) {
        assert.equal(call.engine, 'replicate');
        assert.equal(call.status, 'succeeded');
        assert.equal(call.predict_time_ms, 1250);
        assert.ok(call.completed_at !== null, 'the call records when it ended');
      }
    });

    it('fails a Replicate pack whose predictions fail', async () => {
      replicate.script = () => ({ outcome: 'failed', error: 'NSFW content detected. Try running it again, or try a different prompt.', webhook: 'send' });
      const jobId = await startJob(REPLICATE_PACK);
      const job = await finished(jobId);

      assert.equal(job.status, 'failed');
      assert.equal(job.images.length, 0);
      assert.match(job.reason ?? '', new RegExp(USER_MESSAGES.safetyFilter.replace(/[.?]/g, '\\$&')));
      const tasks = await tasksOf(jobId);
      assert.deepEqual(
        tasks.map((task) => task.attempts),
        [1, 1],
        'a safety filter failure is not retried',
      );
      const calls = await engineCalls(context, jobId);
      assert.deepEqual(
        calls.map((call) => call.status),
        ['failed', 'failed'],
      );
    });

    it('retries a Replicate prediction canceled at the provider', async () => {
      const canceledOnce = new Set<string>();
      replicate.script = (prediction) => {
        const prompt = String(prediction.request.body.input.prompt);
        if (!canceledOnce.has(prompt)) {
          canceledOnce.add(prompt);
          return { outcome: 'canceled', webhook: 'send' };
        }
        return { outcome: 'succeeded', webhook: 'send' };
      };
      const jobId = await startJob(REPLICATE_PACK);
      const job = await finished(jobId);

      assert.equal(job.status, 'completed');
      const predictions = newPredictions();
      assert.equal(predictions.length, 4);
      const succeeded = predictions.filter((prediction) => prediction.status === 'succeeded');
      assert.equal(succeeded.length, 2);
      assert.deepEqual(await downloaded(job), base64Sorted(succeeded.flatMap((prediction) => prediction.outputs)));
      assert.deepEqual(
        (await tasksOf(jobId)).map((task) => task.attempts),
        [2, 2],
      );
    });

    it('finds a Replicate result whose webhook never comes', async () => {
      replicate.script = () => ({ outcome: 'succeeded', webhook: 'never' });
      const jobId = await startJob(REPLICATE_PACK);
      const job = await finished(jobId);

      assert.equal(job.status, 'completed');
      const predictions = newPredictions();
      assert.deepEqual(await downloaded(job), base64Sorted(predictions.flatMap((prediction) => prediction.outputs)));
      assert.equal(replicate.deliveries.filter((delivery) => predictions.some((prediction) => prediction.id === delivery.predictionId)).length, 0);
      for (const call of await engineCalls(context, jobId)) {
        assert.equal(call.webhook_received_at, null);
        assert.equal(call.status, 'succeeded');
      }
    });

    it('stores a Replicate result delivered twice once', async () => {
      replicate.script = () => ({ outcome: 'succeeded', webhook: 'twice' });
      const jobId = await startJob(REPLICATE_PACK);
      const job = await finished(jobId);

      assert.equal(job.status, 'completed');
      assert.deepEqual(job.progress, { done: 4, total: 4 });
      const predictions = newPredictions();
      assert.equal(predictions.length, 2);
      assert.deepEqual(await downloaded(job), base64Sorted(predictions.flatMap((prediction) => prediction.outputs)));
      await waitFor('both deliveries of every webhook', async () =>
        predictions.every((prediction) => replicate.deliveries.filter((delivery) => delivery.predictionId === prediction.id).length >= 2) ? true : undefined,
      );
      for (const delivery of replicate.deliveries.filter((entry) => predictions.some((prediction) => prediction.id === entry.predictionId))) {
        assert.ok(delivery.responseStatus < 300, `webhook ${delivery.webhookId} answered ${delivery.responseStatus}`);
      }
    });

    it('rejects a Replicate webhook with a bad signature', async () => {
      replicate.script = () => ({ outcome: 'succeeded', webhook: 'never', manual: true });
      const jobId = await startJob(REPLICATE_PACK);
      await waitFor('both predictions to be recorded', async () => ((await engineCalls(context, jobId)).length === 2 ? true : undefined));
      const [first] = newPredictions();

      const answered = await replicate.deliver(first!.id, { secret: `whsec_${Buffer.from('not the secret, 32 bytes long...').toString('base64')}` });

      assert.equal(answered, 401);
      const call = (await engineCalls(context, jobId)).find((row) => row.provider_id === first!.id)!;
      assert.equal(call.webhook_received_at, null);
      for (const prediction of newPredictions()) {
        await replicate.finish(prediction.id);
      }
      assert.equal((await finished(jobId)).status, 'completed');
    });

    it('retries a Replicate prediction whose output URLs expired', async () => {
      const expireFirst = new Set<string>();
      replicate.script = () => ({ outcome: 'succeeded', webhook: 'send', manual: true });
      const jobId = await startJob(REPLICATE_PACK);
      await waitFor('both predictions to be recorded', async () => ((await engineCalls(context, jobId)).length === 2 ? true : undefined));
      const firstPredictions = newPredictions();
      // Every later prediction (the retries) finishes at once.
      replicate.script = () => ({ outcome: 'succeeded', webhook: 'send' });
      for (const prediction of firstPredictions) {
        expireFirst.add(prediction.id);
        replicate.expireOutputs(prediction.id);
        await replicate.finish(prediction.id);
      }
      const job = await finished(jobId);

      assert.equal(job.status, 'completed');
      const retried = newPredictions().filter((prediction) => !expireFirst.has(prediction.id));
      assert.equal(retried.length, 2);
      assert.deepEqual(await downloaded(job), base64Sorted(retried.flatMap((prediction) => prediction.outputs)));
      const expiredCalls = (await engineCalls(context, jobId)).filter((call) => expireFirst.has(call.provider_id));
      assert.deepEqual(
        expiredCalls.map((call) => call.status),
        ['failed', 'failed'],
      );
    });

    it('cancels Replicate predictions of a deleted job', async () => {
      replicate.script = () => ({ outcome: 'processing', webhook: 'send' });
      const jobId = await startJob(REPLICATE_PACK);
      await waitFor('both predictions to be recorded', async () => ((await engineCalls(context, jobId)).length === 2 ? true : undefined));
      const predictions = newPredictions();

      const deleted = await context.app.inject({ method: 'DELETE', url: `/job?jobId=${jobId}`, headers: user.authorization });
      assert.equal(deleted.statusCode, 200);
      await waitFor('Replicate to be asked to cancel both predictions', async () =>
        predictions.every((prediction) => replicate.cancelRequests.includes(prediction.id)) ? true : undefined,
      );
      assert.deepEqual(
        predictions.map((prediction) => prediction.status),
        ['canceled', 'canceled'],
      );
    });
  });
}
