import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { type RunningWorkers, startWorkers } from '../../src/start/workers.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { insertTestPack, readStoredZip, waitFor } from '../helpers/generation.js';
import { openJob, uploadImage } from '../helpers/uploads.js';
import { createTestUser } from '../helpers/users.js';

const ASTRONAUT = new URL('../fixtures/photos/astronaut.jpg', import.meta.url);
const COFFEE = new URL('../fixtures/photos/coffee.png', import.meta.url);
const NUM_PROMPTS = 2;
const NUM_IMAGES_PER_PROMPT = 2;

// The whole product as the quick start runs it: the real quality gate, the real local engine, the
// embedded queue and local disk storage. Nothing is faked.
for (const kind of DATABASE_KINDS) {
  describe(`local engine flow with the quality gate on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let workers: RunningWorkers;

    before(async () => {
      context = await createTestContext(kind, { env: { QUALITY_GATE_ENABLED: 'true', WORKER_POLL_INTERVAL_MS: '20' } });
      workers = startWorkers(context.container);
    });
    after(async () => {
      await workers?.stop(5_000);
      await context?.close();
    });

    it('renders a pack from a real selfie', async () => {
      const user = await createTestUser(context);
      const packName = await insertTestPack(context.container.database.db, { numPrompts: NUM_PROMPTS, numImagesPerPrompt: NUM_IMAGES_PER_PROMPT });
      const jobId = await openJob(context, user);

      const selfie = await uploadImage(context, user, jobId, await readFile(ASTRONAUT), 'astronaut.jpg');
      const noFace = await uploadImage(context, user, jobId, await readFile(COFFEE), 'coffee.png');
      assert.equal(selfie.statusCode, 200, selfie.body);
      assert.equal(typeof selfie.json().faceBox.width, 'number');
      assert.equal(noFace.statusCode, 422);
      assert.deepEqual(
        noFace.json().error.details.map((detail: { code: string }) => detail.code),
        ['no_face'],
      );

      const started = await context.app.inject({ method: 'POST', url: '/start-job', headers: user.authorization, payload: { jobId, pack_name: packName } });
      assert.equal(started.statusCode, 202, started.body);
      const finished = await waitFor(
        'the job to finish',
        async () => {
          const body = (await context.app.inject({ method: 'GET', url: `/job-status?jobId=${jobId}`, headers: user.authorization })).json();
          return ['completed', 'partial', 'failed'].includes(body.status) ? body : undefined;
        },
        240_000,
      );

      const total = NUM_PROMPTS * NUM_IMAGES_PER_PROMPT;
      assert.equal(finished.status, 'completed', finished.reason);
      assert.deepEqual(finished.progress, { done: total, total });
      assert.equal(finished.images.length, total);

      const downloads: Buffer[] = [];
      for (const image of finished.images as Array<{ url: string; content_type: string }>) {
        const link = new URL(image.url);
        const download = await context.app.inject({ method: 'GET', url: `${link.pathname}${link.search}` });
        assert.equal(download.statusCode, 200);
        assert.equal(download.headers['content-type'], 'image/jpeg');
        const metadata = await sharp(download.rawPayload).metadata();
        assert.equal(metadata.format, 'jpeg');
        assert.equal(metadata.width, 1024);
        assert.equal(metadata.height, 1024);
        downloads.push(download.rawPayload);
      }
      // Different prompts and seeds give different images.
      assert.equal(new Set(downloads.map((data) => data.toString('base64'))).size, total);

      const archive = await context.app.inject({ method: 'GET', url: `/job-archive?jobId=${jobId}`, headers: user.authorization });
      assert.equal(archive.statusCode, 200);
      assert.equal(readStoredZip(archive.rawPayload).size, total);
    });
  });
}
