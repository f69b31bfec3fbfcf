import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { fixture } from '../helpers/images.js';
import { jobState, openJob, uploadImage } from '../helpers/uploads.js';
import { createTestUser, type TestUser } from '../helpers/users.js';

for (const kind of DATABASE_KINDS) {
  describe(`DELETE /photo on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let owner: TestUser;
    let stranger: TestUser;

    before(async () => {
      context = await createTestContext(kind);
      owner = await createTestUser(context);
      stranger = await createTestUser(context);
    });
    after(async () => context?.close());

    async function jobWithPhotos(count: number): Promise<{ jobId: string; photoIds: string[] }> {
      const jobId = await openJob(context, owner);
      const photoIds: string[] = [];
      for (let index = 0; index < count; index += 1) {
        const response = await uploadImage(context, owner, jobId, fixture('astronaut.jpg'));
        assert.equal(response.statusCode, 200, response.body);
        photoIds.push(response.json().photoId);
      }
      return { jobId, photoIds };
    }

    function deletePhoto(user: TestUser | undefined, jobId: string, photoId: string) {
      return context.app.inject({
        method: 'DELETE',
        url: `/photo?jobId=${encodeURIComponent(jobId)}&photoId=${encodeURIComponent(photoId)}`,
        headers: user?.authorization ?? {},
      });
    }

    it('removes the photo, its files and one from the count', async () => {
      const { jobId, photoIds } = await jobWithPhotos(2);
      const [deletedId, keptId] = photoIds as [string, string];

      const response = await deletePhoto(owner, jobId, deletedId);
      const state = await jobState(context, jobId);

      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(response.json(), { jobId, photoId: deletedId, deleted: true, photoCount: 1 });
      assert.equal(state.photoCount, 1);
      assert.deepEqual(state.photos.map((photo) => photo.id), [keptId]);
      assert.ok(state.files.length > 0, 'the kept photo still has files');
      assert.ok(state.files.every((file) => !file.includes(deletedId)), `files of the deleted photo remain: ${state.files.join(', ')}`);
    });

    it('drops the job engine preparations', async () => {
      const { jobId, photoIds } = await jobWithPhotos(1);
      const db = context.container.database.db;
      await db.insertInto('engine_preparations').values({ job_id: jobId, engine: 'local', data: '{}', created_at: 1 }).execute();
      await context.container.storage.put(`jobs/${jobId}/engines/local/portraits/${photoIds[0]}.jpg`, fixture('astronaut.jpg'), 'image/jpeg');

      const response = await deletePhoto(owner, jobId, photoIds[0]!);
      const preparations = await db.selectFrom('engine_preparations').selectAll().where('job_id', '=', jobId).execute();
      const state = await jobState(context, jobId);

      assert.equal(response.statusCode, 200, response.body);
      assert.equal(preparations.length, 0);
      assert.deepEqual(state.files, []);
    });

    it('answers 404 for another user', async () => {
      const { jobId, photoIds } = await jobWithPhotos(1);

      const response = await deletePhoto(stranger, jobId, photoIds[0]!);
      const state = await jobState(context, jobId);

      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error.code, 'job_not_found');
      assert.equal(state.photoCount, 1);
    });

    it('answers 404 for an unknown photo', async () => {
      const { jobId } = await jobWithPhotos(1);

      const response = await deletePhoto(owner, jobId, randomUUID());
      const state = await jobState(context, jobId);

      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error.code, 'photo_not_found');
      assert.equal(state.photoCount, 1);
    });

    it('answers 404 for a photo of another job', async () => {
      const first = await jobWithPhotos(1);
      const second = await jobWithPhotos(1);

      const response = await deletePhoto(owner, first.jobId, second.photoIds[0]!);

      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error.code, 'photo_not_found');
      assert.equal((await jobState(context, second.jobId)).photoCount, 1);
    });

    it('answers 409 while a pack is generated', async () => {
      const { jobId, photoIds } = await jobWithPhotos(1);
      const now = Date.now();
      await context.container.database.db
        .insertInto('runs')
        .values({
          id: randomUUID(),
          job_id: jobId,
          user_id: owner.id,
          pack_name: 'neon',
          engine: 'local',
          status: 'processing',
          total_images: 1,
          completed_images: 0,
          failed_reason: null,
          created_at: now,
          updated_at: now,
          started_at: now,
          finished_at: null,
          notified_at: null,
        })
        .execute();

      const response = await deletePhoto(owner, jobId, photoIds[0]!);
      const state = await jobState(context, jobId);

      assert.equal(response.statusCode, 409);
      assert.equal(response.json().error.code, 'job_busy');
      assert.equal(state.photoCount, 1);
      assert.equal(state.photos.length, 1);
    });

    it('requires a token and both parameters', async () => {
      const { jobId, photoIds } = await jobWithPhotos(1);

      const anonymous = await deletePhoto(undefined, jobId, photoIds[0]!);
      const missing = await context.app.inject({ method: 'DELETE', url: `/photo?jobId=${jobId}`, headers: owner.authorization });

      assert.equal(anonymous.statusCode, 401);
      assert.equal(missing.statusCode, 400);
      assert.match(missing.json().error.message, /photoId/);
      assert.equal((await jobState(context, jobId)).photoCount, 1);
    });
  });
}
