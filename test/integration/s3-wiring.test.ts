import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { S3Storage } from '../../src/adapters/storage/s3-storage.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { fixture } from '../helpers/images.js';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.js';
import { FakeQualityGate, openJob, uploadImage } from '../helpers/uploads.js';
import { createTestUser, type TestUser } from '../helpers/users.js';

for (const kind of DATABASE_KINDS) {
  describe(`S3 storage in the app on ${kind.name}`, { skip: kind.skip }, () => {
    let server: TestS3Server;
    let context: TestContext;
    let user: TestUser;
    let keyPrefix: string;

    before(async () => {
      server = await startS3Server();
      const s3 = server.storageConfig();
      keyPrefix = s3.keyPrefix;
      context = await createTestContext(kind, {
        env: {
          STORAGE_DRIVER: 's3',
          S3_BUCKET: s3.bucket,
          S3_ENDPOINT: s3.endpoint!,
          S3_ACCESS_KEY_ID: s3.credentials!.accessKeyId,
          S3_SECRET_ACCESS_KEY: s3.credentials!.secretAccessKey,
          S3_KEY_PREFIX: s3.keyPrefix,
        },
        overrides: () => ({ qualityGate: new FakeQualityGate() }),
      });
      user = await createTestUser(context);
    });
    after(async () => {
      await context?.close();
      await server?.close();
    });

    it('builds the S3 store from the configuration', () => {
      assert.ok(context.container.storage instanceof S3Storage);
    });

    it('reports the bucket in /readyz', async () => {
      const response = await context.app.inject({ method: 'GET', url: '/readyz' });

      assert.equal(response.statusCode, 200);
      assert.equal(response.json().checks.storage, 'ok');
    });

    it('stores an uploaded photo in the bucket', async () => {
      const jobId = await openJob(context, user);

      const response = await uploadImage(context, user, jobId, fixture('astronaut.jpg'));
      const row = await context.container.database.db.selectFrom('photos').selectAll().where('job_id', '=', jobId).executeTakeFirstOrThrow();
      const stored = await context.container.storage.get(row.storage_key);
      const link = await fetch(await context.container.storage.signedUrl(row.storage_key, 60));

      assert.equal(response.statusCode, 200, response.body);
      assert.equal(server.creations.get(`${keyPrefix}${row.storage_key}`), 'ObjectCreated:Put');
      assert.equal(stored.contentType, 'image/jpeg');
      assert.equal((await buffer(stored.body)).length, row.bytes);
      assert.equal(link.status, 200);
      assert.equal((await link.arrayBuffer()).byteLength, row.bytes);
    });
  });
}

describe('S3 storage readiness', () => {
  it('reports an unreachable bucket in /readyz', async () => {
    const server = await startS3Server();
    const s3 = server.storageConfig();
    const context = await createTestContext(DATABASE_KINDS[0]!, {
      env: {
        S3_BUCKET: s3.bucket,
        S3_ENDPOINT: s3.endpoint!,
        S3_ACCESS_KEY_ID: s3.credentials!.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.credentials!.secretAccessKey,
      },
    });
    try {
      await server.close();
      const response = await context.app.inject({ method: 'GET', url: '/readyz' });

      assert.equal(response.statusCode, 503);
      assert.deepEqual(
        response.json().error.details.map((detail: { field: string }) => detail.field),
        ['storage'],
      );
    } finally {
      await context.close();
    }
  });
});
