import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TaskLeaseRepository } from '../../src/adapters/database/repositories/task-lease-repository.js';
import { type RunningWorkers, startWorkers } from '../../src/start/workers.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { getPacksInfo, packNames, waitUntil } from '../helpers/packs.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { alwaysFails, failsOnce, gatedBehavior, hangsOnce, rejectsSecondPrompt, ScriptedEngine } from '../helpers/fake-engines.js';
import { insertDeviceToken, insertTestJob, insertTestPack, readStoredZip, waitFor } from '../helpers/generation.js';
import { MemoryStorage } from '../helpers/memory-storage.js';
import { RecordingPushNotifier } from '../helpers/recording-push.js';
import { createTestUser, type TestUser } from '../helpers/users.js';

/** Intervals short enough that retries and deadlines pass quickly; no assertion depends on them. */
const FAST_PIPELINE = {
  WORKER_CONCURRENCY: '3',
  WORKER_POLL_INTERVAL_MS: '20',
  WORKER_LEASE_MS: '2000',
  TASK_RETRY_BASE_DELAY_MS: '10',
  TASK_RETRY_MAX_DELAY_MS: '40',
  TASK_MAX_ATTEMPTS: '3',
  TASK_TIMEOUT_MS: '1500',
};

for (const kind of DATABASE_KINDS) {
  describe(`generation pipeline on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let workers: RunningWorkers;
    const engine = new ScriptedEngine('local', 2);
    const storage = new MemoryStorage();
    const push = new RecordingPushNotifier();

    before(async () => {
      context = await createTestContext(kind, {
        env: FAST_PIPELINE,
        overrides: () => ({ storage, pushNotifier: push, engines: { local: engine } }),
      });
      workers = startWorkers(context.container);
    });
    after(async () => {
      await workers?.stop(5_000);
      await context?.close();
    });

    const db = () => context.container.database.db;

    async function startJob(user: TestUser, jobId: string, packName: string) {
      return context.app.inject({
        method: 'POST',
        url: '/start-job',
        headers: user.authorization,
        payload: { jobId, pack_name: packName },
      });
    }

    async function jobStatus(user: TestUser, jobId: string) {
      return context.app.inject({ method: 'GET', url: `/job-status?jobId=${jobId}`, headers: user.authorization });
    }

    async function waitUntilFinished(user: TestUser, jobId: string) {
      return waitFor(`job ${jobId} to finish`, async () => {
        const body = (await jobStatus(user, jobId)).json();
        return ['completed', 'partial', 'failed'].includes(body.status) ? body : undefined;
      });
    }

    async function readyJob(options: { numPrompts?: number; numImagesPerPrompt?: number; token?: string } = {}) {
      const user = await createTestUser(context);
      const jobId = await insertTestJob(db(), user.id, { photoCount: 2 });
      const packName = await insertTestPack(db(), options);
      if (options.token !== undefined) {
        await insertDeviceToken(db(), user.id, options.token);
      }
      return { user, jobId, packName };
    }

    it('runs a pack to completion and reports every image', async () => {
      const { user, jobId, packName } = await readyJob({ numPrompts: 3, numImagesPerPrompt: 2, token: 'device-a' });

      const started = await startJob(user, jobId, packName);
      assert.equal(started.statusCode, 202);
      assert.equal(started.json().jobId, jobId);
      assert.ok(['queued', 'processing'].includes(started.json().status));
      assert.equal(started.json().progress.total, 6);

      const finished = await waitUntilFinished(user, jobId);
      assert.equal(finished.status, 'completed');
      assert.deepEqual(finished.progress, { done: 6, total: 6 });
      assert.equal(finished.reason, null);
      assert.equal(finished.images.length, 6);
      assert.deepEqual(
        finished.images.map((image: { prompt_index: number; image_index: number }) => `${image.prompt_index}-${image.image_index}`),
        ['0-0', '0-1', '1-0', '1-1', '2-0', '2-1'],
      );
      assert.match(finished.images[0].url, /\/files\/jobs%2F/);
      assert.ok(Date.parse(finished.urls_expire_at) > Date.now());
      assert.equal(finished.runs[0].status, 'completed');
      assert.equal(storage.keysUnder(`jobs/${jobId}/results/`).length, 6);
    });

    it('sends one push with job, pack and status when a run ends', async () => {
      const { user, jobId, packName } = await readyJob({ token: 'device-b' });

      await startJob(user, jobId, packName);
      await waitUntilFinished(user, jobId);
      await context.container.generation.notifier.sendDueNotifications();

      const pushes = await waitFor('the push', async () => {
        const sent = push.sentFor(jobId, packName);
        return sent.length > 0 ? sent : undefined;
      });
      assert.equal(pushes.length, 1);
      assert.deepEqual(pushes[0]!.tokens, ['device-b']);
      assert.deepEqual(pushes[0]!.message.data, { jobId, pack_name: packName, status: 'completed' });
      const run = await db().selectFrom('runs').select('notified_at').where('job_id', '=', jobId).executeTakeFirstOrThrow();
      assert.notEqual(run.notified_at, null);
    });

    it('deletes device tokens the push service reports unregistered', async () => {
      const { user, jobId, packName } = await readyJob({ token: 'device-gone' });
      await insertDeviceToken(db(), user.id, 'device-kept');
      push.unregistered.add('device-gone');

      await startJob(user, jobId, packName);
      await waitUntilFinished(user, jobId);
      await waitFor('the push', async () => (push.sentFor(jobId, packName).length > 0 ? true : undefined));

      // The fake records the send before the notifier deletes the tokens it reported, so wait for that too.
      const tokens = await waitFor('the unregistered token to be deleted', async () => {
        const rows = await db().selectFrom('device_tokens').select('token').where('user_id', '=', user.id).execute();
        return rows.length === 1 ? rows : undefined;
      });
      assert.deepEqual(tokens.map((row) => row.token), ['device-kept']);
    });

    it('returns the existing run when the same pack starts twice', async () => {
      const { user, jobId, packName } = await readyJob();

      const first = await startJob(user, jobId, packName);
      const second = await startJob(user, jobId, packName);

      assert.equal(first.statusCode, 202);
      assert.equal(second.statusCode, 202);
      assert.equal(second.json().runs.length, 1);
      await waitUntilFinished(user, jobId);
      const runs = await db().selectFrom('runs').select('id').where('job_id', '=', jobId).execute();
      assert.equal(runs.length, 1);
    });

    it('reuses the photos for another pack on a finished job', async () => {
      const { user, jobId, packName } = await readyJob();
      const otherPack = await insertTestPack(db(), { numPrompts: 1, numImagesPerPrompt: 3 });

      await startJob(user, jobId, packName);
      await waitUntilFinished(user, jobId);
      const again = await startJob(user, jobId, otherPack);
      const finished = await waitUntilFinished(user, jobId);

      assert.equal(again.statusCode, 202);
      assert.equal(finished.status, 'completed');
      assert.deepEqual(finished.progress, { done: 7, total: 7 });
      assert.deepEqual(finished.runs.map((run: { pack_name: string }) => run.pack_name), [packName, otherPack]);
      assert.equal(engine.prepareCalls.filter((id) => id === jobId).length, 1);
    });

    it('retries a render that fails once and completes', async () => {
      const { user, jobId, packName } = await readyJob({ numPrompts: 2, numImagesPerPrompt: 2 });
      engine.behaviors.set(packName, failsOnce);

      await startJob(user, jobId, packName);
      const finished = await waitUntilFinished(user, jobId);

      assert.equal(finished.status, 'completed');
      assert.equal(finished.images.length, 4);
      assert.deepEqual(engine.callsFor(jobId, packName), [2, 2]);
      const tasks = await db().selectFrom('generation_tasks').innerJoin('runs', 'runs.id', 'generation_tasks.run_id').select('attempts').where('runs.job_id', '=', jobId).execute();
      assert.deepEqual(tasks.map((task) => task.attempts), [2, 2]);
    });

    it('fails a run whose renders always fail, with a reason and a push', async () => {
      const { user, jobId, packName } = await readyJob({ token: 'device-c' });
      engine.behaviors.set(packName, alwaysFails);

      await startJob(user, jobId, packName);
      const finished = await waitUntilFinished(user, jobId);

      assert.equal(finished.status, 'failed');
      assert.equal(finished.images.length, 0);
      assert.equal(finished.reason, 'No images could be made. The image generator is out of order (tried 3 times).');
      assert.deepEqual(engine.callsFor(jobId, packName), [3, 3]);
      const pushes = await waitFor('the push', async () => {
        const sent = push.sentFor(jobId, packName);
        return sent.length > 0 ? sent : undefined;
      });
      assert.equal(pushes[0]!.message.data.status, 'failed');
    });

    it('times out a hung render and retries it', async () => {
      const { user, jobId, packName } = await readyJob({ numPrompts: 1, numImagesPerPrompt: 2 });
      engine.behaviors.set(packName, hangsOnce);

      await startJob(user, jobId, packName);
      const finished = await waitUntilFinished(user, jobId);

      assert.equal(finished.status, 'completed');
      assert.equal(finished.images.length, 2);
      assert.deepEqual(engine.callsFor(jobId, packName), [2]);
      const task = await db().selectFrom('generation_tasks').innerJoin('runs', 'runs.id', 'generation_tasks.run_id').select(['attempts', 'last_error']).where('runs.job_id', '=', jobId).executeTakeFirstOrThrow();
      assert.equal(task.attempts, 2);
      assert.match(String(task.last_error), /did not finish within 1500 ms/);
    });

    it('ends a run partial when one prompt is refused', async () => {
      const { user, jobId, packName } = await readyJob({ numPrompts: 3, numImagesPerPrompt: 1 });
      engine.behaviors.set(packName, rejectsSecondPrompt);

      await startJob(user, jobId, packName);
      const finished = await waitUntilFinished(user, jobId);

      assert.equal(finished.status, 'partial');
      assert.deepEqual(finished.progress, { done: 2, total: 3 });
      assert.equal(finished.reason, '1 of 3 prompts could not be rendered. This prompt was refused by the image generator.');
      assert.deepEqual(engine.callsFor(jobId, packName), [1, 1, 1]);
    });

    it('still completes the run when the push fails', async () => {
      const { user, jobId, packName } = await readyJob({ token: 'device-d' });
      push.failWith = new Error('FCM unreachable');
      try {
        await startJob(user, jobId, packName);
        const finished = await waitUntilFinished(user, jobId);

        assert.equal(finished.status, 'completed');
      } finally {
        push.failWith = undefined;
      }
    });

    it('streams every image in one zip', async () => {
      const { user, jobId, packName } = await readyJob({ numPrompts: 2, numImagesPerPrompt: 2 });
      await startJob(user, jobId, packName);
      await waitUntilFinished(user, jobId);

      const response = await context.app.inject({ method: 'GET', url: `/job-archive?jobId=${jobId}`, headers: user.authorization });

      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['content-type'], 'application/zip');
      assert.equal(Number(response.headers['content-length']), response.rawPayload.length);
      const entries = readStoredZip(response.rawPayload);
      assert.deepEqual([...entries.keys()].sort(), [1, 2].flatMap((prompt) => [1, 2].map((image) => `${packName}/${packName}-0${prompt}-${image}.jpg`)));
      const key = storage.keysUnder(`jobs/${jobId}/results/`).find((name) => name.endsWith('/0-0.jpg'))!;
      assert.deepEqual(entries.get(`${packName}/${packName}-01-1.jpg`), storage.objects.get(key)!.data);
    });

    it('answers 409 for the zip of a job without images', async () => {
      const { user, jobId } = await readyJob();

      const response = await context.app.inject({ method: 'GET', url: `/job-archive?jobId=${jobId}`, headers: user.authorization });

      assert.equal(response.statusCode, 409);
      assert.equal(response.json().error.code, 'no_images');
    });

    it('lists jobs newest first, a page at a time', async () => {
      const user = await createTestUser(context);
      const jobIds = [];
      for (let index = 0; index < 3; index += 1) {
        jobIds.push(await insertTestJob(db(), user.id, { createdAt: 1_000 + index }));
      }

      const first = await context.app.inject({ method: 'GET', url: '/jobs?limit=2', headers: user.authorization });
      const cursor = first.json().next_cursor;
      const second = await context.app.inject({ method: 'GET', url: `/jobs?limit=2&cursor=${cursor}`, headers: user.authorization });

      assert.equal(first.statusCode, 200);
      assert.deepEqual(first.json().jobs.map((job: { jobId: string }) => job.jobId), [jobIds[2], jobIds[1]]);
      assert.equal(first.json().jobs[0].status, 'not_started');
      assert.deepEqual(second.json().jobs.map((job: { jobId: string }) => job.jobId), [jobIds[0]]);
      assert.equal(second.json().next_cursor, null);
    });

    it('rejects a cursor it did not issue', async () => {
      const user = await createTestUser(context);

      const response = await context.app.inject({ method: 'GET', url: '/jobs?cursor=not-a-cursor', headers: user.authorization });

      assert.equal(response.statusCode, 400);
      assert.equal(response.json().error.code, 'invalid_request');
    });

    it('deletes a job with its photos, images and records', async () => {
      const { user, jobId, packName } = await readyJob();
      await storage.put(`jobs/${jobId}/photos/original.jpg`, Buffer.from('photo'), 'image/jpeg');
      await startJob(user, jobId, packName);
      await waitUntilFinished(user, jobId);

      const response = await context.app.inject({ method: 'DELETE', url: `/job?jobId=${jobId}`, headers: user.authorization });

      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), { jobId, deleted: true });
      assert.deepEqual(storage.keysUnder(`jobs/${jobId}/`), []);
      assert.equal((await db().selectFrom('runs').select('id').where('job_id', '=', jobId).execute()).length, 0);
      assert.equal((await db().selectFrom('photos').select('id').where('job_id', '=', jobId).execute()).length, 0);
      assert.equal((await jobStatus(user, jobId)).statusCode, 404);
    });

    it('cancels running work when a job is deleted', async () => {
      const { user, jobId, packName } = await readyJob({ numPrompts: 1, numImagesPerPrompt: 2 });
      const gate = gatedBehavior();
      engine.behaviors.set(packName, gate.behavior);
      await startJob(user, jobId, packName);
      await gate.started;

      const response = await context.app.inject({ method: 'DELETE', url: `/job?jobId=${jobId}`, headers: user.authorization });
      gate.release();

      assert.equal(response.statusCode, 200);
      assert.equal(gate.signals.length, 1);
      assert.equal(gate.signals[0]!.aborted, true);
      assert.deepEqual(storage.keysUnder(`jobs/${jobId}/`), []);
      assert.equal((await db().selectFrom('generated_images').innerJoin('runs', 'runs.id', 'generated_images.run_id').select('runs.id').where('runs.job_id', '=', jobId).execute()).length, 0);
    });

    it('hides other users\' jobs behind 404', async () => {
      const { jobId, packName } = await readyJob();
      const stranger = await createTestUser(context);

      const responses = [
        await startJob(stranger, jobId, packName),
        await jobStatus(stranger, jobId),
        await context.app.inject({ method: 'GET', url: `/job-archive?jobId=${jobId}`, headers: stranger.authorization }),
        await context.app.inject({ method: 'DELETE', url: `/job?jobId=${jobId}`, headers: stranger.authorization }),
      ];

      for (const response of responses) {
        assert.equal(response.statusCode, 404);
        assert.equal(response.json().error.code, 'job_not_found');
      }
      assert.equal((await db().selectFrom('jobs').select('id').where('id', '=', jobId).execute()).length, 1);
    });

    it('rejects a start with an expired subscription', async () => {
      const user = await createTestUser(context, { subscriptionStatus: 'expired', expiresAt: Date.now() - 1000 });
      const jobId = await insertTestJob(db(), user.id, { photoCount: 2 });
      const packName = await insertTestPack(db());

      const response = await startJob(user, jobId, packName);

      assert.equal(response.statusCode, 403);
      assert.equal(response.json().error.code, 'subscription_expired');
      assert.equal((await db().selectFrom('runs').select('id').where('job_id', '=', jobId).execute()).length, 0);
    });

    it('rejects a start with an active status past its expiry date', async () => {
      const user = await createTestUser(context, { subscriptionStatus: 'active', expiresAt: Date.now() - 1000 });
      const jobId = await insertTestJob(db(), user.id, { photoCount: 2 });

      const response = await startJob(user, jobId, await insertTestPack(db()));

      assert.equal(response.statusCode, 403);
      assert.equal(response.json().error.code, 'subscription_expired');
    });

    it('rejects a start with too few photos for the engine', async () => {
      const user = await createTestUser(context);
      const jobId = await insertTestJob(db(), user.id, { photoCount: 1 });

      const response = await startJob(user, jobId, await insertTestPack(db()));

      assert.equal(response.statusCode, 409);
      assert.equal(response.json().error.code, 'not_enough_photos');
      assert.match(response.json().error.message, /has 1 accepted photo\(s\); the pack needs at least 2/);
    });

    it('rejects unknown, inactive and prompt-less packs', async () => {
      const user = await createTestUser(context);
      const jobId = await insertTestJob(db(), user.id, { photoCount: 2 });
      const inactive = await insertTestPack(db(), { isActive: false });
      const empty = await insertTestPack(db(), { prompts: [] });
      const short = await insertTestPack(db(), { numPrompts: 3, prompts: ['only one prompt'] });

      const unknown = await startJob(user, jobId, 'no_such_pack');
      const inactiveResponse = await startJob(user, jobId, inactive);
      const emptyResponse = await startJob(user, jobId, empty);
      const shortResponse = await startJob(user, jobId, short);

      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json().error.code, 'pack_not_found');
      assert.equal(inactiveResponse.statusCode, 409);
      assert.equal(inactiveResponse.json().error.code, 'pack_unavailable');
      assert.equal(emptyResponse.statusCode, 409);
      assert.equal(emptyResponse.json().error.code, 'pack_unavailable');
      assert.equal(shortResponse.statusCode, 409);
      assert.equal(shortResponse.json().error.code, 'pack_unavailable');
      assert.deepEqual(shortResponse.json().error.details, [{ field: 'pack_name', message: 'the pack has 1 prompts but num_prompts is 3' }]);
    });

    it('lists test packs in /packs-info', async () => {
      await context.app.inject({ method: 'GET', url: '/packs-info' });
      const packName = await insertTestPack(db());

      // The server notices the raised catalog version on its next periodic check.
      await waitUntil('/packs-info lists the test pack', async () => {
        const { response, body } = await getPacksInfo(context);
        assert.equal(response.statusCode, 200);
        return packNames(body.packs).includes(packName);
      });
    });

    it('answers 503 for a pack whose engine is not configured', async () => {
      const user = await createTestUser(context);
      const jobId = await insertTestJob(db(), user.id, { photoCount: 2 });
      const packName = await insertTestPack(db(), { engine: 'comfyui' });

      const response = await startJob(user, jobId, packName);

      assert.equal(response.statusCode, 503);
      assert.equal(response.json().error.code, 'engine_unavailable');
    });

    it('requires a token on every generation endpoint', async () => {
      for (const [method, url] of [
        ['POST', '/start-job'],
        ['GET', '/job-status?jobId=x'],
        ['GET', '/jobs'],
        ['GET', '/job-archive?jobId=x'],
        ['DELETE', '/job?jobId=x'],
      ] as const) {
        const response = await context.app.inject({ method, url, payload: method === 'POST' ? { jobId: 'x', pack_name: 'y' } : undefined });

        assert.equal(response.statusCode, 401, url);
      }
    });

    it('rejects a start-job body with a missing pack_name', async () => {
      const user = await createTestUser(context);

      const response = await context.app.inject({ method: 'POST', url: '/start-job', headers: user.authorization, payload: { jobId: 'x' } });

      assert.equal(response.statusCode, 400);
      assert.equal(response.json().error.details[0].field, 'field pack_name');
    });

    it('reports not_started for a job without runs', async () => {
      const user = await createTestUser(context);
      const jobId = await insertTestJob(db(), user.id);

      const body = (await jobStatus(user, jobId)).json();

      assert.equal(body.status, 'not_started');
      assert.deepEqual(body.progress, { done: 0, total: 0 });
      assert.deepEqual(body.images, []);
      assert.equal(body.urls_expire_at, null);
    });

    it('lists the generation endpoints in the OpenAPI document', async () => {
      const document = (await context.app.inject({ method: 'GET', url: '/openapi.json' })).json();

      for (const path of ['/start-job', '/job-status', '/jobs', '/job-archive', '/job']) {
        assert.ok(document.paths[path], path);
      }
    });
  });
}

for (const kind of DATABASE_KINDS) {
  describe(`task claims on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;

    before(async () => {
      context = await createTestContext(kind, { overrides: () => ({ engines: { local: new ScriptedEngine('local', 1) }, storage: new MemoryStorage() }) });
    });
    after(async () => context?.close());

    it('never hands one task to two concurrent claimers', async () => {
      const db = context.container.database.db;
      const user = await createTestUser(context);
      const jobId = await insertTestJob(db, user.id);
      const packName = await insertTestPack(db, { numPrompts: 12, numImagesPerPrompt: 1 });
      await context.app.inject({ method: 'POST', url: '/start-job', headers: user.authorization, payload: { jobId, pack_name: packName } });
      const leases = new TaskLeaseRepository(db, context.container.database.dialect);
      const now = Date.now();

      const claims = await Promise.all(Array.from({ length: 14 }, (_, index) => leases.claimNextGenerationTask(`owner-${index}`, now, 60_000)));

      const claimed = claims.filter((claim) => claim !== undefined).map((claim) => claim.id);
      assert.equal(claimed.length, 12);
      assert.equal(new Set(claimed).size, 12);
    });
  });
}
