import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RenderInput, RenderedImage } from '../../src/adapters/engines/generation-engine.js';
import type { BullMqTaskQueue } from '../../src/adapters/queue/bullmq-queue.js';
import { listDeadLetters } from '../../src/start/dead-letters.js';
import { type RunningWorkers, startWorkers } from '../../src/start/workers.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { alwaysFails, failsOnce, ScriptedEngine, tinyImages } from '../helpers/fake-engines.js';
import { insertTestJob, insertTestPack, waitFor } from '../helpers/generation.js';
import { MemoryStorage } from '../helpers/memory-storage.js';
import { TEST_REDIS_URL } from '../helpers/redis.js';
import { freePort, PrivateRedis } from '../helpers/scale-services.js';
import { createTestUser, type TestUser } from '../helpers/users.js';

/** Intervals short enough that retries pass quickly; no assertion depends on them. */
const FAST_PIPELINE = {
  WORKER_CONCURRENCY: '3',
  WORKER_LEASE_MS: '2000',
  TASK_RETRY_BASE_DELAY_MS: '10',
  TASK_RETRY_MAX_DELAY_MS: '40',
  TASK_MAX_ATTEMPTS: '3',
  TASK_TIMEOUT_MS: '5000',
  REDIS_URL: TEST_REDIS_URL,
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
};

for (const kind of DATABASE_KINDS) {
  describe(`BullMQ queue on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let workers: RunningWorkers | undefined;
    const engine = new ScriptedEngine('local', 1);
    const storage = new MemoryStorage();
    let running = 0;
    let maxRunning = 0;

    before(async () => {
      context = await createTestContext(kind, {
        env: { ...FAST_PIPELINE, REDIS_KEY_PREFIX: `envision-test-${randomUUID()}`, ENGINE_CONCURRENCY: 'local=2' },
        overrides: () => ({ storage, engines: { local: engine } }),
      });
    });
    after(async () => {
      await workers?.stop(5_000);
      await queue()?.obliterate();
      await context?.close();
    });

    const db = () => context.container.database.db;
    const queue = (): BullMqTaskQueue | undefined => context?.container.redisQueue;

    function startTheWorkers(): void {
      workers ??= startWorkers(context.container);
    }

    async function readyJob(options: { numPrompts?: number; numImagesPerPrompt?: number } = {}) {
      const user = await createTestUser(context);
      const jobId = await insertTestJob(db(), user.id, { photoCount: 2 });
      const packName = await insertTestPack(db(), options);
      return { user, jobId, packName };
    }

    async function startJob(user: TestUser, jobId: string, packName: string) {
      const response = await context.app.inject({
        method: 'POST',
        url: '/start-job',
        headers: user.authorization,
        payload: { jobId, pack_name: packName },
      });
      assert.equal(response.statusCode, 202, response.body);
    }

    async function waitUntilFinished(user: TestUser, jobId: string) {
      return waitFor(`job ${jobId} to finish`, async () => {
        const response = await context.app.inject({ method: 'GET', url: `/job-status?jobId=${jobId}`, headers: user.authorization });
        const body = response.json();
        return ['completed', 'partial', 'failed'].includes(body.status) ? body : undefined;
      });
    }

    async function taskIdsOf(jobId: string): Promise<string[]> {
      const rows = await db()
        .selectFrom('generation_tasks')
        .innerJoin('runs', 'runs.id', 'generation_tasks.run_id')
        .select('generation_tasks.id')
        .where('runs.job_id', '=', jobId)
        .execute();
      return rows.map((row) => row.id);
    }

    it('uses the BullMQ queue when REDIS_URL is set', () => {
      assert.ok(queue() !== undefined);
      assert.equal(context.container.generation.queue, queue());
    });

    it('recovers tasks Redis lost before any worker ran', async () => {
      const { user, jobId, packName } = await readyJob({ numPrompts: 3, numImagesPerPrompt: 1 });
      await startJob(user, jobId, packName);
      // The tasks are committed and enqueued. Removing their jobs leaves what a crash between the commit
      // and the enqueue leaves behind, and so does a Redis restart without persistence.
      await queue()!.obliterate();

      startTheWorkers();
      const finished = await waitUntilFinished(user, jobId);

      assert.equal(finished.status, 'completed');
      assert.equal(finished.images.length, 3);
      assert.deepEqual(engine.callsFor(jobId, packName), [1, 1, 1]);
    });

    it('runs a pack with every image once', async () => {
      startTheWorkers();
      const { user, jobId, packName } = await readyJob({ numPrompts: 4, numImagesPerPrompt: 2 });

      await startJob(user, jobId, packName);
      const finished = await waitUntilFinished(user, jobId);

      assert.equal(finished.status, 'completed');
      assert.deepEqual(finished.progress, { done: 8, total: 8 });
      assert.equal(finished.images.length, 8);
      assert.deepEqual(engine.callsFor(jobId, packName), [1, 1, 1, 1]);
      assert.equal(storage.keysUnder(`jobs/${jobId}/results/`).length, 8);
    });

    it('collapses a task enqueued twice into one job', async () => {
      const { user, jobId, packName } = await readyJob({ numPrompts: 2, numImagesPerPrompt: 1 });
      await startJob(user, jobId, packName);
      const [runId] = (await db().selectFrom('runs').select('id').where('job_id', '=', jobId).execute()).map((row) => row.id);
      const references = (await taskIdsOf(jobId)).map((taskId) => ({ taskId, runId: runId! }));

      await context.container.generation.queue.enqueue(references);
      await context.container.generation.queue.enqueue(references);
      const finished = await waitUntilFinished(user, jobId);

      assert.equal(finished.images.length, 2);
      assert.deepEqual(engine.callsFor(jobId, packName), [1, 1]);
    });

    it('retries a failed render after a backoff', async () => {
      const { user, jobId, packName } = await readyJob({ numPrompts: 2, numImagesPerPrompt: 1 });
      engine.behaviors.set(packName, failsOnce);

      await startJob(user, jobId, packName);
      const finished = await waitUntilFinished(user, jobId);

      assert.equal(finished.status, 'completed');
      assert.deepEqual(engine.callsFor(jobId, packName), [2, 2]);
    });

    it('lists tasks that failed for good as dead letters', async () => {
      const { user, jobId, packName } = await readyJob({ numPrompts: 1, numImagesPerPrompt: 1 });
      engine.behaviors.set(packName, alwaysFails);

      await startJob(user, jobId, packName);
      const finished = await waitUntilFinished(user, jobId);
      const [taskId] = await taskIdsOf(jobId);
      const letter = await waitFor('the dead letter', async () =>
        (await queue()!.listDeadLetters(100)).find((candidate) => candidate.taskId === taskId),
      );

      const printed: string[] = [];
      await listDeadLetters(context.config, ['--limit', '10'], (line) => printed.push(line));
      const listed = printed.map((line) => JSON.parse(line) as { taskId: string; runId: string; failedAt: string });

      assert.equal(finished.status, 'failed');
      assert.deepEqual(engine.callsFor(jobId, packName), [3]);
      assert.equal(letter.engine, 'local');
      assert.equal(letter.attempts, 3);
      assert.match(letter.reason, /provider returned 500/);
      assert.ok(listed.some((entry) => entry.taskId === taskId), 'envision dead-letters prints the task');
      assert.match(listed[0]!.failedAt, /^\d{4}-\d{2}-\d{2}T/);
    });

    it('rejects a bad dead-letters limit', async () => {
      await assert.rejects(listDeadLetters(context.config, ['--limit', 'lots'], () => undefined), /Usage: envision dead-letters \[--limit N\]/);
    });

    it('keeps each engine under its concurrency limit', async () => {
      const { user, jobId, packName } = await readyJob({ numPrompts: 6, numImagesPerPrompt: 1 });
      engine.behaviors.set(packName, async (input: RenderInput): Promise<RenderedImage[]> => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 50));
        running -= 1;
        return tinyImages(input);
      });

      await startJob(user, jobId, packName);
      const finished = await waitUntilFinished(user, jobId);

      assert.equal(finished.status, 'completed');
      assert.equal(maxRunning, 2, 'ENGINE_CONCURRENCY=local=2 caps renders below WORKER_CONCURRENCY=3');
    });

    it('reports Redis in /readyz and the queue in /metrics', async () => {
      const ready = await context.app.inject({ method: 'GET', url: '/readyz' });
      const metrics = await context.app.inject({ method: 'GET', url: '/metrics' });

      assert.equal(ready.statusCode, 200);
      assert.equal(ready.json().checks.redis, 'ok');
      assert.match(metrics.body, /^envision_queue_tasks\{state="failed"\} [1-9]/m);
      assert.match(metrics.body, /^envision_task_attempt_duration_seconds_count\{engine="local",outcome="succeeded"\} [1-9]/m);
      assert.match(metrics.body, /^envision_tasks_failed_total\{engine="local"\} [1-9]/m);
    });
  });
}

describe('BullMQ queue without Redis', () => {
  let context: TestContext;

  before(async () => {
    // Port 1 on loopback: nothing listens there, so every connection is refused.
    context = await createTestContext(DATABASE_KINDS[0]!, {
      env: { ...FAST_PIPELINE, REDIS_URL: 'redis://127.0.0.1:1', REDIS_KEY_PREFIX: `envision-test-${randomUUID()}` },
      overrides: () => ({ engines: { local: new ScriptedEngine('local', 1) } }),
    });
  });
  after(async () => context?.close());

  it('reports Redis as not ready', async () => {
    const response = await context.app.inject({ method: 'GET', url: '/readyz' });

    assert.equal(response.statusCode, 503);
    assert.deepEqual(
      response.json().error.details.map((detail: { field: string }) => detail.field),
      ['redis'],
    );
  });

  it('still accepts a run, leaving it to the recovery pass', async () => {
    const user = await createTestUser(context);
    const jobId = await insertTestJob(context.container.database.db, user.id, { photoCount: 1 });
    const packName = await insertTestPack(context.container.database.db, { numPrompts: 1 });

    const response = await context.app.inject({
      method: 'POST',
      url: '/start-job',
      headers: user.authorization,
      payload: { jobId, pack_name: packName },
    });

    assert.equal(response.statusCode, 202);
    assert.equal(response.json().status, 'queued');
  });
});

describe('BullMQ queue across a Redis restart', () => {
  let redis: PrivateRedis;
  let context: TestContext;
  let workers: RunningWorkers | undefined;
  const engine = new ScriptedEngine('local', 1);
  const storage = new MemoryStorage();

  before(async () => {
    redis = new PrivateRedis(await freePort());
    await redis.start();
    const kind = DATABASE_KINDS.find((candidate) => candidate.name === 'postgres' && candidate.skip === false) ?? DATABASE_KINDS[0]!;
    context = await createTestContext(kind, {
      // A short lease lets the recovery pass, which runs at least every 15 s, and lock expiry happen soon.
      env: { ...FAST_PIPELINE, REDIS_URL: redis.url, WORKER_LEASE_MS: '1000' },
      overrides: () => ({ storage, engines: { local: engine } }),
    });
  });
  after(async () => {
    await workers?.stop(5_000);
    await context?.close();
    await redis?.close();
  });

  it('completes every run with each image once', async () => {
    const db = context.container.database.db;
    const runs: Array<{ user: TestUser; jobId: string; packName: string }> = [];
    let rendered = 0;
    let restarted: Promise<void> | undefined;
    for (let index = 0; index < 3; index += 1) {
      const user = await createTestUser(context);
      const jobId = await insertTestJob(db, user.id, { photoCount: 1 });
      const packName = await insertTestPack(db, { numPrompts: 4, numImagesPerPrompt: 2 });
      engine.behaviors.set(packName, async (input: RenderInput): Promise<RenderedImage[]> => {
        rendered += 1;
        // Redis loses every key while the first renders are still running.
        if (rendered === 2) {
          restarted = redis.stop().then(() => redis.start());
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
        return tinyImages(input);
      });
      runs.push({ user, jobId, packName });
    }

    for (const run of runs) {
      const response = await context.app.inject({
        method: 'POST',
        url: '/start-job',
        headers: run.user.authorization,
        payload: { jobId: run.jobId, pack_name: run.packName },
      });
      assert.equal(response.statusCode, 202);
    }
    workers = startWorkers(context.container);

    for (const run of runs) {
      const finished = await waitFor(
        `job ${run.jobId} to finish`,
        async () => {
          const response = await context.app.inject({ method: 'GET', url: `/job-status?jobId=${run.jobId}`, headers: run.user.authorization });
          const body = response.json();
          return ['completed', 'partial', 'failed'].includes(body.status) ? body : undefined;
        },
        120_000,
      );
      const keys = finished.images.map((image: { prompt_index: number; image_index: number }) => `${image.prompt_index}-${image.image_index}`);

      assert.equal(finished.status, 'completed');
      assert.equal(finished.images.length, 8);
      assert.equal(new Set(keys).size, 8, 'no image twice');
      assert.equal(storage.keysUnder(`jobs/${run.jobId}/results/`).length, 8);
    }
    await restarted;
  });
});
