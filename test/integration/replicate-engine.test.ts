import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import sharp from 'sharp';
import { EngineCallRepository } from '../../src/adapters/database/repositories/engine-call-repository.js';
import { EngineError } from '../../src/adapters/engines/generation-engine.js';
import { USER_MESSAGES } from '../../src/adapters/engines/remote/failures.js';
import { ReplicateEngine, type ReplicateEngineOptions } from '../../src/adapters/engines/replicate/replicate-engine.js';
import { signWebhook } from '../../src/adapters/engines/replicate/webhook-signature.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { capturingLogger, engineCalls, renderInput, type SeededJob, seedJob, taskProviderId, waitUntil } from '../helpers/engines.js';
import { type FakePrediction, FakeReplicate } from '../helpers/fakes/fake-replicate.js';
import { freeLoopbackPort } from '../helpers/fakes/loopback.js';
import { MemoryStorage } from '../helpers/memory-storage.js';

const INPUT_TEMPLATE = {
  prompt: 'photo of a person, {{prompt}}',
  negative_prompt: '{{negative_prompt}}',
  seed: '{{seed}}',
  num_outputs: '{{image_count}}',
  main_face_image: '{{reference_image}}',
};

for (const kind of DATABASE_KINDS) {
  describe(`Replicate engine on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let fake: FakeReplicate;
    const storage = new MemoryStorage();
    const logs = capturingLogger();
    let webhookUrl: string;
    let job: SeededJob;
    let firstNewPrediction = 0;
    const engines: ReplicateEngine[] = [];

    before(async () => {
      fake = await FakeReplicate.start();
      const port = await freeLoopbackPort();
      webhookUrl = `http://127.0.0.1:${port}/webhooks/replicate`;
      context = await createTestContext(kind, {
        env: {
          REPLICATE_API_TOKEN: fake.apiToken,
          REPLICATE_BASE_URL: fake.url,
          REPLICATE_MODEL: 'fake/identity',
          REPLICATE_INPUT: JSON.stringify(INPUT_TEMPLATE),
          REPLICATE_WEBHOOK_URL: webhookUrl,
          REPLICATE_WEBHOOK_SECRET: fake.webhookSecret,
          // Long enough that only webhooks can finish these renders, unless a test asks otherwise.
          REPLICATE_POLL_INTERVAL_MS: '600000',
          ENGINE_RECONCILE_INTERVAL_MS: '0',
        },
        overrides: () => ({ storage, logger: logs.logger }),
      });
      await context.app.listen({ host: '127.0.0.1', port });
    });
    after(async () => {
      await context?.close();
      await fake?.close();
    });

    beforeEach(async () => {
      fake.script = () => ({ outcome: 'succeeded', webhook: 'send', manual: true });
      firstNewPrediction = fake.predictions.size;
      job = await seedJob(context, storage);
    });
    afterEach(async () => {
      for (const engine of engines.splice(0)) {
        await engine.close();
      }
    });

    function containerEngine(): ReplicateEngine {
      return context.container.engines.replicate as ReplicateEngine;
    }

    /** An engine like the container's with some options changed; webhooks still reach the container's. */
    function engine(options: Partial<ReplicateEngineOptions> & { callTimeoutMs?: number } = {}): ReplicateEngine {
      const created = new ReplicateEngine(
        { calls: new EngineCallRepository(context.container.database.db), clock: context.container.clock, logger: logs.logger },
        {
          apiToken: fake.apiToken,
          baseUrl: fake.url,
          model: 'fake/identity',
          input: context.config.engines.replicate!.input,
          webhookUrl,
          webhookSecret: fake.webhookSecret,
          imageInput: 'data-uri',
          requestTimeoutMs: 5_000,
          pollIntervalMs: 600_000,
          storage,
          limits: { maxConcurrency: 2, callTimeoutMs: options.callTimeoutMs ?? 60_000, reconcileAfterMs: 1_000 },
          ...options,
        },
      );
      engines.push(created);
      return created;
    }

    function newPredictions(): FakePrediction[] {
      return [...fake.predictions.values()].slice(firstNewPrediction);
    }

    async function prepared(replicate: ReplicateEngine = containerEngine()): Promise<unknown> {
      return replicate.prepare({ jobId: job.jobId, photos: job.photos, storage, signal: new AbortController().signal });
    }

    /** Waits until the engine recorded the prediction, so webhooks find it, then lets it finish. */
    async function finishWhenRecorded(): Promise<FakePrediction> {
      await waitUntil(async () => (await engineCalls(context, job.jobId)).length === 1);
      const prediction = newPredictions()[0]!;
      await fake.finish(prediction.id);
      return prediction;
    }

    function signedHeaders(body: string, options: { id?: string; timestamp?: number; secret?: string } = {}) {
      const id = options.id ?? `msg_${randomUUID()}`;
      const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
      const signature = signWebhook(id, timestamp, body, options.secret ?? fake.webhookSecret).toString('base64');
      return {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': timestamp,
        'webhook-signature': `v1,${signature}`,
      };
    }

    it('creates a prediction with the mapped input and a webhook', async () => {
      const preparation = await prepared();
      const rendering = containerEngine().render(renderInput(job, storage, { preparation, seed: 99, imageCount: 2 }));
      const prediction = await finishWhenRecorded();
      await rendering;

      const { path, body } = prediction.request;
      assert.equal(path, '/v1/models/fake/identity/predictions');
      assert.equal(body.input.prompt, 'photo of a person, a neon portrait of the person');
      assert.equal(body.input.negative_prompt, '');
      assert.equal(body.input.seed, 99);
      assert.equal(body.input.num_outputs, 2);
      const face = String(body.input.main_face_image);
      assert.match(face, /^data:image\/jpeg;base64,/);
      assert.equal((await sharp(Buffer.from(face.split(',')[1]!, 'base64')).metadata()).width, 512);
      assert.equal(body.webhook, webhookUrl);
      assert.deepEqual(body.webhook_events_filter, ['start', 'completed']);
    });

    it('copies the outputs into storage when the webhook arrives', async () => {
      const preparation = await prepared();
      const rendering = containerEngine().render(renderInput(job, storage, { preparation, imageCount: 2 }));
      const prediction = await finishWhenRecorded();
      const images = await rendering;

      assert.deepEqual(
        fake.deliveries.filter((delivery) => delivery.predictionId === prediction.id).map((delivery) => [delivery.status, delivery.responseStatus]),
        [
          ['processing', 200],
          ['succeeded', 200],
        ],
      );
      assert.deepEqual(
        images.map((image) => image.data),
        prediction.outputs,
      );
      const prefix = `jobs/${job.jobId}/engine-outputs/replicate/${prediction.id}/`;
      assert.deepEqual(storage.keysUnder(prefix), [`${prefix}0.png`, `${prefix}1.png`]);
      assert.deepEqual(storage.objects.get(`${prefix}1.png`)!.data, prediction.outputs[1]);
      assert.equal(fake.getRequests.filter((id) => id === prediction.id).length, 0);
    });

    it('records the prediction id, timings and outcome', async () => {
      const preparation = await prepared();
      const rendering = containerEngine().render(renderInput(job, storage, { preparation }));
      const prediction = await finishWhenRecorded();
      await rendering;

      const [call] = await engineCalls(context, job.jobId);
      assert.equal(call!.provider_id, prediction.id);
      assert.equal(call!.status, 'succeeded');
      assert.equal(call!.provider_status, 'succeeded');
      assert.equal(call!.output_count, 2);
      assert.equal(call!.predict_time_ms, 1250);
      assert.equal(call!.started_at, Date.parse(prediction.startedAt!));
      assert.equal(call!.completed_at, Date.parse(prediction.completedAt!));
      assert.ok(call!.webhook_received_at !== null);
      assert.equal(await taskProviderId(context, job.runId, 0), prediction.id);
    });

    it('applies a webhook delivered twice only once', async () => {
      fake.script = () => ({ outcome: 'succeeded', webhook: 'twice', manual: true });
      const preparation = await prepared();
      const rendering = containerEngine().render(renderInput(job, storage, { preparation, imageCount: 2 }));
      const prediction = await finishWhenRecorded();
      const images = await rendering;

      const deliveries = fake.deliveries.filter((delivery) => delivery.predictionId === prediction.id);
      assert.equal(deliveries.length, 4);
      assert.ok(deliveries.every((delivery) => delivery.responseStatus === 200));
      assert.deepEqual(fake.outputDownloads.filter((download) => download.startsWith(prediction.id)).sort(), [`${prediction.id}/0`, `${prediction.id}/1`]);
      const events = await context.container.database.db
        .selectFrom('replicate_webhook_events')
        .select(['provider_status'])
        .where('prediction_id', '=', prediction.id)
        .orderBy('received_at')
        .execute();
      assert.deepEqual(
        events.map((event) => event.provider_status),
        ['processing', 'succeeded'],
      );
      assert.deepEqual(
        images.map((image) => image.data),
        prediction.outputs,
      );
    });

    it('answers a redelivered webhook-id as a duplicate', async () => {
      const preparation = await prepared();
      const rendering = containerEngine().render(renderInput(job, storage, { preparation }));
      const prediction = await finishWhenRecorded();
      await rendering;
      const body = JSON.stringify(fake.view(prediction));
      const headers = signedHeaders(body, { id: 'msg_redelivered' });

      const first = await context.app.inject({ method: 'POST', url: '/webhooks/replicate', headers, payload: body });
      const second = await context.app.inject({ method: 'POST', url: '/webhooks/replicate', headers, payload: body });

      assert.equal(first.statusCode, 200);
      assert.deepEqual(first.json(), { status: 'processed' });
      assert.equal(second.statusCode, 200);
      assert.deepEqual(second.json(), { status: 'duplicate' });
    });

    it('rejects a webhook with a bad signature', async () => {
      const preparation = await prepared();
      const rendering = containerEngine().render(renderInput(job, storage, { preparation }));
      await waitUntil(async () => (await engineCalls(context, job.jobId)).length === 1);
      const prediction = newPredictions()[0]!;
      prediction.status = 'failed';
      prediction.error = 'forged failure';

      const status = await fake.deliver(prediction.id, { secret: `whsec_${Buffer.from('not the secret').toString('base64')}` });

      assert.equal(status, 401);
      assert.equal((await engineCalls(context, job.jobId))[0]!.status, 'queued');
      prediction.status = 'starting';
      prediction.error = null;
      await fake.finish(prediction.id);
      assert.equal((await rendering).length, 2);
    });

    it('rejects stale, unsigned and malformed webhooks', async () => {
      const body = JSON.stringify({ id: 'prediction-x', status: 'succeeded' });
      const stale = signedHeaders(body, { timestamp: Math.floor(Date.now() / 1000) - 10 * 60 });
      const { 'webhook-signature': _signature, ...unsigned } = signedHeaders(body);
      const notJson = 'not json';

      const staleResponse = await context.app.inject({ method: 'POST', url: '/webhooks/replicate', headers: stale, payload: body });
      const unsignedResponse = await context.app.inject({ method: 'POST', url: '/webhooks/replicate', headers: unsigned, payload: body });
      const malformed = await context.app.inject({ method: 'POST', url: '/webhooks/replicate', headers: signedHeaders(notJson), payload: notJson });

      assert.equal(staleResponse.statusCode, 401);
      assert.equal(staleResponse.json().error.code, 'invalid_webhook_signature');
      assert.match(staleResponse.json().error.message, /away from the server's clock/);
      assert.equal(unsignedResponse.statusCode, 401);
      assert.match(unsignedResponse.json().error.message, /headers are required/);
      assert.equal(malformed.statusCode, 400);
      assert.equal(malformed.json().error.code, 'invalid_request');
    });

    it('ignores a webhook for a prediction it does not know', async () => {
      const body = JSON.stringify({ id: 'someone-elses-prediction', status: 'succeeded', output: [] });
      const headers = signedHeaders(body);

      const response = await context.app.inject({ method: 'POST', url: '/webhooks/replicate', headers, payload: body });

      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), { status: 'ignored' });
      const recorded = await context.container.database.db
        .selectFrom('replicate_webhook_events')
        .select('webhook_id')
        .where('webhook_id', '=', headers['webhook-id'])
        .execute();
      assert.equal(recorded.length, 0);
    });

    it('polls when the webhook never comes', async () => {
      fake.script = () => ({ outcome: 'succeeded', webhook: 'never' });
      const replicate = engine({ pollIntervalMs: 50 });
      const preparation = await prepared(replicate);

      const images = await replicate.render(renderInput(job, storage, { preparation, imageCount: 2 }));

      const prediction = newPredictions()[0]!;
      assert.deepEqual(
        images.map((image) => image.data),
        prediction.outputs,
      );
      assert.ok(fake.getRequests.includes(prediction.id));
      assert.equal(fake.deliveries.filter((delivery) => delivery.predictionId === prediction.id).length, 0);
      const [call] = await engineCalls(context, job.jobId);
      assert.equal(call!.status, 'succeeded');
      assert.equal(call!.webhook_received_at, null);
      assert.ok(logs.lines.some((line) => line.includes('found by polling') && line.includes(prediction.id)));
    });

    it('fails permanently when the safety filter blocks the output', async () => {
      fake.script = () => ({
        outcome: 'failed',
        error: 'NSFW content detected. Try running it again, or try a different prompt.',
        webhook: 'send',
        manual: true,
      });
      const preparation = await prepared();
      const rendering = containerEngine()
        .render(renderInput(job, storage, { preparation }))
        .catch((caught: unknown) => caught);
      await finishWhenRecorded();
      const error = await rendering;

      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, false);
      assert.equal(error.userMessage, USER_MESSAGES.safetyFilter);
      const [call] = await engineCalls(context, job.jobId);
      assert.equal(call!.status, 'failed');
      assert.equal(call!.retryable, 0);
      assert.match(call!.error ?? '', /NSFW/);
    });

    it('retries a prediction whose model crashed', async () => {
      fake.script = () => ({ outcome: 'failed', error: 'CUDA error: out of memory', webhook: 'send', manual: true });
      const preparation = await prepared();
      const rendering = containerEngine()
        .render(renderInput(job, storage, { preparation }))
        .catch((caught: unknown) => caught);
      await finishWhenRecorded();
      const error = await rendering;

      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, true);
      assert.equal(error.userMessage, USER_MESSAGES.unavailable);
    });

    it('retries a prediction canceled at Replicate', async () => {
      fake.script = () => ({ outcome: 'canceled', webhook: 'send', manual: true });
      const preparation = await prepared();
      const rendering = containerEngine()
        .render(renderInput(job, storage, { preparation }))
        .catch((caught: unknown) => caught);
      await finishWhenRecorded();
      const error = await rendering;

      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, true);
      assert.match(error.message, /canceled at Replicate/);
      assert.equal((await engineCalls(context, job.jobId))[0]!.status, 'failed');
    });

    it('keeps the copied outputs after the URLs expire', async () => {
      const preparation = await prepared();
      const rendering = containerEngine().render(renderInput(job, storage, { preparation }));
      const prediction = await finishWhenRecorded();
      fake.expireOutputs(prediction.id);
      const images = await rendering;

      assert.deepEqual(
        images.map((image) => image.data),
        prediction.outputs,
      );
      assert.equal(fake.outputDownloads.filter((download) => download.startsWith(prediction.id)).length, 2);
    });

    it('starts a new prediction when the outputs expired before the copy', async () => {
      fake.script = () => ({ outcome: 'succeeded', webhook: 'never', manual: true });
      const replicate = engine({ pollIntervalMs: 50 });
      const preparation = await prepared(replicate);
      const firstAttempt = replicate.render(renderInput(job, storage, { preparation })).catch((caught: unknown) => caught);
      await waitUntil(async () => (await engineCalls(context, job.jobId)).length === 1);
      const expired = newPredictions()[0]!;
      fake.expireOutputs(expired.id);
      await fake.finish(expired.id);
      const error = await firstAttempt;

      fake.script = () => ({ outcome: 'succeeded', webhook: 'never' });
      const images = await replicate.render(renderInput(job, storage, { preparation }));

      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, true);
      assert.match(error.message, /expired/);
      const [first, second] = newPredictions();
      assert.equal(first!.id, expired.id);
      assert.deepEqual(
        images.map((image) => image.data),
        second!.outputs,
      );
      assert.deepEqual(
        (await engineCalls(context, job.jobId)).map((call) => call.status),
        ['failed', 'succeeded'],
      );
    });

    it('cancels the prediction of a deleted job', async () => {
      const preparation = await prepared();
      const controller = new AbortController();
      const rendering = containerEngine()
        .render(renderInput(job, storage, { preparation, signal: controller.signal }))
        .catch((caught: unknown) => caught);
      await waitUntil(async () => (await engineCalls(context, job.jobId)).length === 1);
      controller.abort(new Error('job deleted'));
      const error = await rendering;

      const prediction = newPredictions()[0]!;
      assert.ok(error instanceof EngineError);
      assert.match(error.message, /job deleted/);
      assert.deepEqual(fake.cancelRequests.filter((id) => id === prediction.id), [prediction.id]);
      assert.equal(prediction.status, 'canceled');
      assert.equal((await engineCalls(context, job.jobId))[0]!.status, 'canceled');
    });

    it('cancels a prediction that passes its deadline', async () => {
      fake.script = () => ({ outcome: 'processing', webhook: 'never' });
      const replicate = engine({ pollIntervalMs: 50, callTimeoutMs: 300 });
      const preparation = await prepared(replicate);

      const error = await replicate.render(renderInput(job, storage, { preparation })).catch((caught: unknown) => caught);

      const prediction = newPredictions()[0]!;
      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, true);
      assert.match(error.message, /timed out/);
      assert.ok(fake.cancelRequests.includes(prediction.id));
      const [call] = await engineCalls(context, job.jobId);
      assert.equal(call!.status, 'failed');
      assert.match(call!.error ?? '', /no result within 300 ms/);
    });

    it('classifies failed create requests', async () => {
      const preparation = await prepared();
      const tooMany = { status: 429, body: { title: 'Too Many Requests', detail: 'Request was throttled.', status: 429 } };
      fake.createFailures = [tooMany, tooMany, tooMany, tooMany, tooMany, tooMany];
      const throttled = await containerEngine()
        .render(renderInput(job, storage, { preparation }))
        .catch((caught: unknown) => caught);
      fake.createFailures = [{ status: 422, body: { title: 'Input validation failed', detail: '- input.seed: Invalid type.', status: 422 } }];
      const invalid = await containerEngine()
        .render(renderInput(job, storage, { preparation }))
        .catch((caught: unknown) => caught);

      assert.ok(throttled instanceof EngineError);
      assert.equal(throttled.retryable, true);
      assert.match(throttled.message, /HTTP 429/);
      assert.ok(invalid instanceof EngineError);
      assert.equal(invalid.retryable, false);
      assert.equal(invalid.userMessage, USER_MESSAGES.rejectedInput);
      assert.match(invalid.message, /input\.seed: Invalid type/);
      assert.equal(fake.createFailures.length, 0);
      assert.equal(newPredictions().length, 0);
    });

    it('picks up outputs a webhook copied while no worker waited', async () => {
      fake.script = () => ({ outcome: 'succeeded', webhook: 'send', manual: true });
      const created = await createPredictionDirectly(fake, { num_outputs: 2 }, webhookUrl);
      const calls = new EngineCallRepository(context.container.database.db);
      const now = Date.now();
      await calls.insertCall({
        id: randomUUID(),
        engine: 'replicate',
        providerId: created,
        jobId: job.jobId,
        packName: job.packName,
        promptIndex: 0,
        batchIndex: 0,
        seed: 1234,
        imageCount: 2,
        providerStatus: 'starting',
        createdAt: now,
        deadlineAt: now + 60_000,
      });
      await fake.finish(created);
      const preparation = await prepared();

      const images = await containerEngine().render(renderInput(job, storage, { preparation, seed: 1234 }));

      assert.equal(newPredictions().length, 1);
      assert.deepEqual(
        images.map((image) => image.data),
        fake.predictions.get(created)!.outputs,
      );
    });

    it('reconciles predictions nobody waits on', async () => {
      fake.script = () => ({ outcome: 'succeeded', webhook: 'never', manual: true });
      const orphan = await createPredictionDirectly(fake, { num_outputs: 1 });
      const finished = await createPredictionDirectly(fake, { num_outputs: 1 });
      await fake.finish(finished);
      const calls = new EngineCallRepository(context.container.database.db);
      // Older than the engine's poll interval (REPLICATE_POLL_INTERVAL_MS above), so the reconciler looks.
      const old = Date.now() - 20 * 60_000;
      const base = { engine: 'replicate', packName: job.packName, promptIndex: 1, seed: 5, imageCount: 1, providerStatus: 'starting', createdAt: old, deadlineAt: Date.now() + 60_000 };
      await calls.insertCall({ ...base, id: randomUUID(), providerId: orphan, jobId: randomUUID(), batchIndex: 0 });
      await calls.insertCall({ ...base, id: randomUUID(), providerId: finished, jobId: job.jobId, batchIndex: 1 });

      await containerEngine().reconcileQuietCalls();

      assert.ok(fake.cancelRequests.includes(orphan));
      assert.equal((await calls.findCallByProviderId('replicate', orphan))!.status, 'canceled');
      const done = await calls.findCallByProviderId('replicate', finished);
      assert.equal(done!.status, 'succeeded');
      const [key] = JSON.parse(done!.output_keys!) as string[];
      assert.deepEqual(storage.objects.get(key!)!.data, fake.predictions.get(finished)!.outputs[0]);
    });

    it('never logs the API token or the webhook secret', () => {
      const text = logs.lines.join('');
      assert.ok(logs.lines.length > 20);
      assert.ok(!text.includes(fake.apiToken));
      assert.ok(!text.includes(fake.webhookSecret));
      assert.ok(!text.includes(fake.webhookSecret.slice('whsec_'.length)));
      assert.ok(fake.authorizationHeaders.every((header) => header === `Bearer ${fake.apiToken}`));
    });
  });
}

/** Creates a prediction at the fake as another worker would have, and returns its id. */
async function createPredictionDirectly(fake: FakeReplicate, input: Record<string, unknown>, webhook?: string): Promise<string> {
  const response = await fetch(`${fake.url}/models/fake/identity/predictions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fake.apiToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ input, webhook, webhook_events_filter: ['start', 'completed'] }),
  });
  return ((await response.json()) as { id: string }).id;
}
