import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { type RunningWorkers, startWorkers } from '../../src/start/workers.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { ScriptedEngine } from '../helpers/fake-engines.js';
import { insertTestPack, readStoredZip, waitFor } from '../helpers/generation.js';
import { RecordingPushNotifier } from '../helpers/recording-push.js';
import { openJob, uploadImage } from '../helpers/uploads.js';
import { createTestUser } from '../helpers/users.js';

const PHOTO = new URL('../fixtures/photos/astronaut.jpg', import.meta.url);

for (const kind of DATABASE_KINDS) {
  describe(`generation flow through HTTP on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let workers: RunningWorkers;
    const engine = new ScriptedEngine('local', 2);
    const push = new RecordingPushNotifier();

    before(async () => {
      // Real uploads into local disk storage; only the engine and the push service are fakes.
      context = await createTestContext(kind, {
        env: { WORKER_POLL_INTERVAL_MS: '20' },
        overrides: () => ({ engines: { local: engine }, pushNotifier: push }),
      });
      workers = startWorkers(context.container);
    });
    after(async () => {
      await workers?.stop(5_000);
      await context?.close();
    });

    it('uploads, generates and delivers a pack', async () => {
      const user = await createTestUser(context);
      const packName = await insertTestPack(context.container.database.db, { numPrompts: 2, numImagesPerPrompt: 2 });
      const photo = await readFile(PHOTO);

      const jobId = await openJob(context, user);
      for (let index = 0; index < 2; index += 1) {
        const uploaded = await uploadImage(context, user, jobId, photo, `selfie-${index}.jpg`);
        assert.ok(uploaded.statusCode < 300, uploaded.body);
      }
      const started = await context.app.inject({
        method: 'POST',
        url: '/start-job',
        headers: user.authorization,
        payload: { jobId, pack_name: packName },
      });
      const finished = await waitFor('the job to finish', async () => {
        const body = (await context.app.inject({ method: 'GET', url: `/job-status?jobId=${jobId}`, headers: user.authorization })).json();
        return ['completed', 'partial', 'failed'].includes(body.status) ? body : undefined;
      });

      assert.equal(started.statusCode, 202);
      assert.equal(finished.status, 'completed');
      assert.deepEqual(finished.progress, { done: 4, total: 4 });
      assert.equal(engine.prepareCalls.filter((id) => id === jobId).length, 1);

      const link = new URL(finished.images[0].url);
      const download = await context.app.inject({ method: 'GET', url: `${link.pathname}${link.search}` });
      assert.equal(download.statusCode, 200);
      assert.equal(download.headers['content-type'], 'image/jpeg');

      const archive = await context.app.inject({ method: 'GET', url: `/job-archive?jobId=${jobId}`, headers: user.authorization });
      assert.equal(archive.statusCode, 200);
      const entries = readStoredZip(archive.rawPayload);
      assert.equal(entries.size, 4);
      assert.deepEqual(entries.get(`${packName}/${packName}-01-1.jpg`), download.rawPayload);

      const deleted = await context.app.inject({ method: 'DELETE', url: `/job?jobId=${jobId}`, headers: user.authorization });
      assert.equal(deleted.statusCode, 200);
      const gone = await context.app.inject({ method: 'GET', url: `${link.pathname}${link.search}` });
      assert.equal(gone.statusCode, 404);
      const photoKeys = await context.container.database.db.selectFrom('photos').select('id').where('job_id', '=', jobId).execute();
      assert.equal(photoKeys.length, 0);
    });
  });
}
