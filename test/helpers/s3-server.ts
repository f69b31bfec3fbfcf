import type { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import type { S3Config } from '../../src/config/scale-config.js';

// The AWS SDK warns once per process that its releases after January 2027 need Node.js 22. The pinned
// release supports Node.js 20, so the warning is only noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** The access key pair s3rver 3.7 accepts by default. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', sessionToken: undefined };

export interface TestS3Server {
  endpoint: string;
  bucket: string;
  /**
   * How each object was created, by full key: s3rver names a PutObject `ObjectCreated:Put` and a completed
   * multipart upload `ObjectCreated:Post`.
   */
  creations: Map<string, string>;
  /** A configuration for the S3 store that points at this server, with a key prefix of its own. */
  storageConfig(overrides?: Partial<S3Config>): S3Config;
  close(): Promise<void>;
}

/**
 * Starts s3rver, an S3 protocol server that keeps objects on disk, on 127.0.0.1 with one bucket.
 *
 * s3rver 3.7 checks the access key id and the expiry of presigned URLs, but not SigV4 signatures, so
 * tests here cannot prove that a tampered signature is rejected.
 */
export async function startS3Server(bucket = 'envision-test'): Promise<TestS3Server> {
  const directory = mkdtempSync(path.join(tmpdir(), 'envision-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    vhostBuckets: false,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const creations = new Map<string, string>();
  // S3rver is a Koa application and so an EventEmitter, which @types/s3rver 3.7 leaves out.
  (server as unknown as EventEmitter).on('event', (event: { Records: Array<{ eventName: string; s3: { object: { key: string } } }> }) => {
    for (const record of event.Records) {
      if (record.eventName.startsWith('ObjectCreated:')) {
        creations.set(record.s3.object.key, record.eventName);
      }
    }
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  let prefixes = 0;

  return {
    endpoint,
    bucket,
    creations,
    storageConfig: (overrides = {}) => {
      prefixes += 1;
      return {
        bucket,
        region: 'us-east-1',
        endpoint,
        publicEndpoint: undefined,
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
        keyPrefix: `test-${process.pid}-${prefixes}/`,
        ...overrides,
      };
    },
    close: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
