import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, afterEach, before, describe, it } from 'node:test';
import { createTestContext, TEST_JWT_SECRET, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { ScriptedEngine } from '../helpers/fake-engines.js';
import { insertTestJob, insertTestPack, waitFor } from '../helpers/generation.js';
import { createTestUser } from '../helpers/users.js';

const WORKER_SCRIPT = new URL('../helpers/worker-process.ts', import.meta.url).pathname;

for (const kind of DATABASE_KINDS) {
  describe(`worker processes on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    const children: ChildProcess[] = [];

    before(async () => {
      // The API side only: this process records runs, and the worker processes started below run them.
      context = await createTestContext(kind, {
        overrides: () => ({ engines: { local: new ScriptedEngine('local', 1) } }),
      });
    });
    afterEach(async () => {
      for (const child of children.splice(0)) {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await once(child, 'exit');
        }
      }
    });
    after(async () => context?.close());

    const db = () => context.container.database.db;

    function startWorker(env: Record<string, string>): ChildProcess {
      const child = spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT], {
        env: {
          PATH: process.env.PATH,
          NODE_ENV: 'test',
          DATABASE_URL: context.config.databaseUrl,
          DATA_DIR: context.config.dataDir,
          JWT_SECRET: TEST_JWT_SECRET,
          LOG_LEVEL: 'warn',
          WORKER_CONCURRENCY: '2',
          WORKER_LEASE_MS: '1000',
          WORKER_POLL_INTERVAL_MS: '50',
          TASK_RETRY_BASE_DELAY_MS: '10',
          ...env,
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(child);
      return child;
    }

    async function startRun(numPrompts: number, numImagesPerPrompt: number) {
      const user = await createTestUser(context);
      const jobId = await insertTestJob(db(), user.id, { photoCount: 1 });
      const packName = await insertTestPack(db(), { numPrompts, numImagesPerPrompt });
      const response = await context.app.inject({
        method: 'POST',
        url: '/start-job',
        headers: user.authorization,
        payload: { jobId, pack_name: packName },
      });
      assert.equal(response.statusCode, 202);
      const run = await db().selectFrom('runs').select('id').where('job_id', '=', jobId).executeTakeFirstOrThrow();
      return run.id;
    }

    /** Waits until `worker` holds the lease of the run's first task. */
    async function waitUntilRunning(runId: string, worker: ChildProcess) {
      await waitFor('the worker to claim the task', async () => {
        const [task] = await tasksOf(runId);
        return task?.status === 'running' && task.lease_owner?.includes(`:${worker.pid}:`) ? true : undefined;
      });
    }

    async function tasksOf(runId: string) {
      return db().selectFrom('generation_tasks').selectAll().where('run_id', '=', runId).orderBy('prompt_index').execute();
    }

    it('completes a run with every image once after a worker is killed mid-run', async () => {
      const runId = await startRun(4, 3);
      const first = startWorker({ FAKE_RENDER_DELAY_MS: '300' });

      await waitFor('one task done and another running', async () => {
        const tasks = await tasksOf(runId);
        return tasks.some((task) => task.status === 'succeeded') && tasks.some((task) => task.status === 'running') ? true : undefined;
      });
      first.kill('SIGKILL');
      await once(first, 'exit');
      const orphaned = (await tasksOf(runId)).filter((task) => task.status === 'running').map((task) => task.id);
      assert.ok(orphaned.length > 0);
      startWorker({ FAKE_RENDER_DELAY_MS: '10' });

      const run = await waitFor('the run to finish', async () => {
        const row = await db().selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirstOrThrow();
        return row.finished_at === null ? undefined : row;
      });
      const images = await db().selectFrom('generated_images').selectAll().where('run_id', '=', runId).execute();
      const tasks = await tasksOf(runId);

      assert.equal(run.status, 'completed');
      assert.equal(run.completed_images, 12);
      assert.equal(images.length, 12);
      assert.equal(new Set(images.map((image) => `${image.prompt_index}-${image.image_index}`)).size, 12);
      assert.equal(new Set(images.map((image) => image.storage_key)).size, 12);
      for (const image of images) {
        const stored = await context.container.storage.get(image.storage_key);
        stored.body.resume();
        assert.equal(stored.bytes, image.bytes, image.storage_key);
      }
      for (const task of tasks.filter((row) => orphaned.includes(row.id))) {
        // At least 2: on a loaded machine the 1 s lease can lapse once before the kill, and the first
        // worker then claims the task again itself.
        assert.ok(task.attempts >= 2, `task ${task.prompt_index} was claimed again after its lease expired (attempts ${task.attempts})`);
      }
    });

    it('finishes in-flight tasks on SIGTERM before exiting', async () => {
      const runId = await startRun(1, 2);
      const worker = startWorker({ FAKE_RENDER_DELAY_MS: '500', SHUTDOWN_TIMEOUT_MS: '30000' });
      await waitUntilRunning(runId, worker);

      worker.kill('SIGTERM');
      const [code] = (await once(worker, 'exit')) as [number | null];

      assert.equal(code, 0);
      const [task] = await tasksOf(runId);
      assert.equal(task!.status, 'succeeded');
    });

    it('releases a task it cannot finish before the shutdown timeout', async () => {
      const runId = await startRun(1, 2);
      const worker = startWorker({ FAKE_RENDER_DELAY_MS: 'hang', SHUTDOWN_TIMEOUT_MS: '1000' });
      await waitUntilRunning(runId, worker);

      worker.kill('SIGTERM');
      const [code] = (await once(worker, 'exit')) as [number | null];

      assert.equal(code, 0);
      const [task] = await tasksOf(runId);
      assert.equal(task!.status, 'pending');
      assert.equal(task!.attempts, 0);
      assert.equal(task!.lease_owner, null);
    });
  });
}
