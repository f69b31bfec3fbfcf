import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { S3Storage } from '../../src/adapters/storage/s3-storage.js';
import { InvalidStorageKeyError, StorageNotFoundError } from '../../src/adapters/storage/object-storage.js';
import type { S3Config } from '../../src/config/scale-config.js';
import { startFakeS3Listing } from '../helpers/fake-s3-listing.js';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.js';

const MIB = 1024 * 1024;

/** Streams `count` chunks of 1 MiB, each filled with its index, and fails before chunk `failAt`. */
function mebibyteChunks(count: number, failAt?: number): Readable {
  return Readable.from(
    (function* generate() {
      for (let index = 0; index < count; index += 1) {
        if (index === failAt) {
          throw new Error('client disconnected mid-upload');
        }
        yield Buffer.alloc(MIB, index);
      }
    })(),
  );
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readObject(storage: S3Storage, key: string): Promise<Buffer> {
  const object = await storage.get(key);
  return buffer(object.body);
}

describe('S3 storage on s3rver', () => {
  let server: TestS3Server;
  let config: S3Config;
  let keyPrefix: string;
  let storage: S3Storage;

  before(async () => {
    server = await startS3Server();
    config = server.storageConfig();
    keyPrefix = config.keyPrefix;
    storage = new S3Storage(config, { partSizeBytes: 5 * MIB });
  });
  after(async () => {
    storage?.close();
    await server?.close();
  });

  it('stores a buffer and reads it back', async () => {
    const body = Buffer.from('a small photo');

    const stored = await storage.put('jobs/j1/photos/p1.jpg', body, 'image/jpeg');
    const object = await storage.get('jobs/j1/photos/p1.jpg');

    assert.equal(stored.bytes, body.length);
    assert.equal(object.contentType, 'image/jpeg');
    assert.equal(object.bytes, body.length);
    assert.deepEqual(await buffer(object.body), body);
    assert.equal(server.creations.get(`${keyPrefix}jobs/j1/photos/p1.jpg`), 'ObjectCreated:Put', 'sent in one request');
  });

  it('streams a large body in multipart upload', async () => {
    const expected = Buffer.concat(Array.from({ length: 12 }, (_, index) => Buffer.alloc(MIB, index)));

    const stored = await storage.put('jobs/j2/results/large.bin', mebibyteChunks(12), 'application/octet-stream');
    const actual = await readObject(storage, 'jobs/j2/results/large.bin');

    assert.equal(stored.bytes, 12 * MIB);
    assert.equal(actual.length, 12 * MIB);
    assert.equal(sha256(actual), sha256(expected));
    assert.equal(server.creations.get(`${keyPrefix}jobs/j2/results/large.bin`), 'ObjectCreated:Post', 'sent as a multipart upload');
  });

  it('replaces an existing object', async () => {
    await storage.put('jobs/j3/photo.jpg', Buffer.from('first'), 'image/jpeg');
    await storage.put('jobs/j3/photo.jpg', Buffer.from('second version'), 'image/png');

    const object = await storage.get('jobs/j3/photo.jpg');

    assert.equal(object.contentType, 'image/png');
    assert.equal((await buffer(object.body)).toString(), 'second version');
  });

  it('leaves no object when a multipart stream fails', async () => {
    const failure = await storage.put('jobs/j4/broken.bin', mebibyteChunks(12, 11), 'application/octet-stream').then(
      () => assert.fail('the upload should fail'),
      (error: unknown) => error as Error & { abortError?: Error },
    );

    assert.equal(failure.message, 'client disconnected mid-upload');
    // s3rver 3.7 has no AbortMultipartUpload. The abort was sent, and its rejection is attached, not thrown.
    assert.equal(failure.abortError?.name, 'MethodNotAllowed');
    await assert.rejects(storage.get('jobs/j4/broken.bin'), StorageNotFoundError);
  });

  it('keeps the old object when a replacement fails', async () => {
    await storage.put('jobs/j5/photo.bin', Buffer.from('original'), 'application/octet-stream');

    await assert.rejects(storage.put('jobs/j5/photo.bin', mebibyteChunks(3, 2), 'application/octet-stream'), /client disconnected/);
    await assert.rejects(storage.put('jobs/j5/photo.bin', mebibyteChunks(8, 7), 'application/octet-stream'), /client disconnected/);

    assert.equal((await readObject(storage, 'jobs/j5/photo.bin')).toString(), 'original');
  });

  it('reports a missing object as StorageNotFoundError', async () => {
    await assert.rejects(storage.get('jobs/none/photo.jpg'), (error: unknown) => {
      assert.ok(error instanceof StorageNotFoundError);
      assert.equal(error.key, 'jobs/none/photo.jpg');
      return true;
    });
  });

  it('deletes listed keys and ignores missing ones', async () => {
    await storage.put('jobs/j6/a.jpg', Buffer.from('a'), 'image/jpeg');
    await storage.put('jobs/j6/b.jpg', Buffer.from('b'), 'image/jpeg');
    await storage.put('jobs/j6/c.jpg', Buffer.from('c'), 'image/jpeg');

    await storage.delete(['jobs/j6/a.jpg', 'jobs/j6/b.jpg', 'jobs/j6/never-stored.jpg']);

    await assert.rejects(storage.get('jobs/j6/a.jpg'), StorageNotFoundError);
    await assert.rejects(storage.get('jobs/j6/b.jpg'), StorageNotFoundError);
    assert.equal((await readObject(storage, 'jobs/j6/c.jpg')).toString(), 'c');
  });

  it('deletes a prefix and nothing beside it', async () => {
    const inside = Array.from({ length: 10 }, (_, index) => `jobs/j7/results/${index}.png`);
    for (const key of [...inside, 'jobs/j7-other/keep.png', 'jobs/j70/keep.png']) {
      await storage.put(key, Buffer.from(key), 'image/png');
    }

    await storage.deletePrefix('jobs/j7/');

    for (const key of inside) {
      await assert.rejects(storage.get(key), StorageNotFoundError, key);
    }
    assert.equal((await readObject(storage, 'jobs/j7-other/keep.png')).toString(), 'jobs/j7-other/keep.png');
    assert.equal((await readObject(storage, 'jobs/j70/keep.png')).toString(), 'jobs/j70/keep.png');
  });

  it('deletes more keys than one batch holds', async () => {
    const paged = new S3Storage(server.storageConfig(), { deleteBatchSize: 2 });
    try {
      const keys = ['x/1', 'x/2', 'x/3', 'x/4', 'x/5'];
      for (const key of keys) {
        await paged.put(key, Buffer.from(key), 'text/plain');
      }

      await paged.delete(keys);

      for (const key of keys) {
        await assert.rejects(paged.get(key), StorageNotFoundError, key);
      }
    } finally {
      paged.close();
    }
  });

  it('keeps each installation under its key prefix', async () => {
    const config = server.storageConfig({ keyPrefix: 'installation-a/' });
    const prefixed = new S3Storage(config);
    const whole = new S3Storage({ ...config, keyPrefix: '' });
    try {
      await prefixed.put('jobs/j8/photo.jpg', Buffer.from('prefixed'), 'image/jpeg');

      assert.equal((await readObject(whole, 'installation-a/jobs/j8/photo.jpg')).toString(), 'prefixed');
      await assert.rejects(whole.get('jobs/j8/photo.jpg'), StorageNotFoundError);
    } finally {
      prefixed.close();
      whole.close();
    }
  });

  it('serves a presigned link over HTTP', async () => {
    await storage.put('jobs/j9/result.png', Buffer.from('portrait bytes'), 'image/png');

    const url = await storage.signedUrl('jobs/j9/result.png', 300);
    const response = await fetch(url);

    assert.equal(new URL(url).origin, server.endpoint);
    assert.equal(new URL(url).searchParams.get('X-Amz-Expires'), '300');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/png');
    assert.equal(await response.text(), 'portrait bytes');
  });

  it('rejects an expired presigned link', async () => {
    await storage.put('jobs/j10/result.png', Buffer.from('old portrait'), 'image/png');
    const twoMinutesAgo = Date.now() - 120_000;
    const signedInThePast = new S3Storage(config, {
      clock: { now: () => twoMinutesAgo },
    });
    try {
      const url = await signedInThePast.signedUrl('jobs/j10/result.png', 60);
      const response = await fetch(url);

      assert.equal(response.status, 403);
      assert.match(await response.text(), /Request has expired/);
    } finally {
      signedInThePast.close();
    }
  });

  it('answers a presigned link to a missing object with 404', async () => {
    const response = await fetch(await storage.signedUrl('jobs/none/result.png', 60));

    assert.equal(response.status, 404);
  });

  it('signs links with the public endpoint', async () => {
    const publicStorage = new S3Storage(server.storageConfig({ publicEndpoint: 'http://127.0.0.1:9' }));
    try {
      const url = new URL(await publicStorage.signedUrl('jobs/j11/result.png', 60));

      assert.equal(url.origin, 'http://127.0.0.1:9');
      assert.match(url.pathname, new RegExp(`^/${server.bucket}/test-\\d+-\\d+/jobs/j11/result\\.png$`));
    } finally {
      publicStorage.close();
    }
  });

  for (const key of ['', '/etc/passwd', '../outside.jpg', 'a/../b.jpg', 'a//b.jpg', 'a/', '.tmp/x.jpg', 'a b.jpg']) {
    it(`rejects the key ${JSON.stringify(key)}`, async () => {
      await assert.rejects(storage.put(key, Buffer.from('x'), 'image/jpeg'), InvalidStorageKeyError);
      await assert.rejects(storage.get(key), InvalidStorageKeyError);
      await assert.rejects(storage.delete([key]), InvalidStorageKeyError);
      await assert.rejects(storage.signedUrl(key, 60), InvalidStorageKeyError);
    });
  }

  it('rejects an empty or invalid prefix', async () => {
    await assert.rejects(storage.deletePrefix(''), InvalidStorageKeyError);
    await assert.rejects(storage.deletePrefix('../jobs/'), InvalidStorageKeyError);
  });

  it('signs links exactly as the AWS SDK does', async () => {
    const now = Date.parse('2027-01-15T08:00:00Z');
    // Signing sends no request, and every endpoint here is a loopback name.
    const variants: S3Config[] = [
      { ...config, keyPrefix: "odd!(prefix)/" },
      { ...config, endpoint: 'http://s3.localhost:9', forcePathStyle: false, credentials: { accessKeyId: 'K', secretAccessKey: 'S', sessionToken: 'token+/=' } },
      { ...config, region: 'auto', publicEndpoint: 'http://files.localhost:8443' },
    ];
    for (const variant of variants) {
      const signer = new S3Storage(variant, { clock: { now: () => now } });
      const client = new S3Client({
        region: variant.region,
        endpoint: variant.publicEndpoint ?? variant.endpoint,
        forcePathStyle: variant.forcePathStyle,
        credentials: variant.credentials,
        // The store's own client settings; without them the SDK adds x-amz-checksum-mode to GET links.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      try {
        const expected = await getSignedUrl(client, new GetObjectCommand({ Bucket: variant.bucket, Key: `${variant.keyPrefix}jobs/j14/result.png` }), {
          expiresIn: 600,
          signingDate: new Date(now),
        });

        assert.equal(await signer.signedUrl('jobs/j14/result.png', 600), expected);
      } finally {
        signer.close();
        client.destroy();
      }
    }
  });

  it('rejects link lifetimes S3 cannot sign', async () => {
    await assert.rejects(storage.signedUrl('jobs/j12/a.png', 0), RangeError);
    await assert.rejects(storage.signedUrl('jobs/j12/a.png', 8 * 24 * 3600), RangeError);
  });

  it('pings a reachable bucket', async () => {
    await storage.ping();
  });

  it('fails the ping for a missing bucket', async () => {
    const missing = new S3Storage(server.storageConfig({ bucket: 'no-such-bucket' }));
    try {
      await assert.rejects(missing.ping());
    } finally {
      missing.close();
    }
  });

  it('fails the ping when nothing listens', async () => {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    const unreachable = new S3Storage(server.storageConfig({ endpoint: 'http://127.0.0.1:1' }));
    try {
      await assert.rejects(unreachable.ping());
    } finally {
      unreachable.close();
    }
  });

  it('rejects an unknown access key', async () => {
    const stranger = new S3Storage(
      server.storageConfig({ credentials: { accessKeyId: 'UNKNOWN', secretAccessKey: 'wrong', sessionToken: undefined } }),
    );
    try {
      await assert.rejects(stranger.put('jobs/j13/a.jpg', Buffer.from('a'), 'image/jpeg'), { name: 'InvalidAccessKeyId' });
    } finally {
      stranger.close();
    }
  });
});

describe('S3 storage paging on a listing fake', () => {
  const bucket = 'paging-bucket';

  function storageFor(endpoint: string, deleteBatchSize: number): S3Storage {
    return new S3Storage(
      {
        bucket,
        region: 'us-east-1',
        endpoint,
        publicEndpoint: undefined,
        forcePathStyle: true,
        credentials: { accessKeyId: 'FAKE', secretAccessKey: 'FAKE', sessionToken: undefined },
        keyPrefix: 'install/',
      },
      { deleteBatchSize },
    );
  }

  it('deletes a prefix across several pages', async () => {
    const inside = Array.from({ length: 10 }, (_, index) => `install/jobs/j1/results/${index}.png`);
    const fake = await startFakeS3Listing(bucket, [...inside, 'install/jobs/j10/keep.png', 'other/jobs/j1/keep.png']);
    const paged = storageFor(fake.endpoint, 3);
    try {
      await paged.deletePrefix('jobs/j1/');

      assert.deepEqual([...fake.keys].sort(), ['install/jobs/j10/keep.png', 'other/jobs/j1/keep.png']);
      assert.deepEqual(fake.deleteBatches, [3, 3, 3, 1]);
      assert.equal(fake.listRequests, 4);
    } finally {
      paged.close();
      await fake.close();
    }
  });

  it('reports keys the service refused to delete', async () => {
    const fake = await startFakeS3Listing(bucket, ['install/jobs/j2/a.png', 'install/jobs/j2/locked/b.png']);
    const paged = storageFor(fake.endpoint, 1000);
    try {
      await assert.rejects(paged.deletePrefix('jobs/j2/'), /DeleteObjects failed for 1 of 2 keys; first: install\/jobs\/j2\/locked\/b\.png \(AccessDenied/);
      assert.deepEqual([...fake.keys], ['install/jobs/j2/locked/b.png']);
    } finally {
      paged.close();
      await fake.close();
    }
  });
});
