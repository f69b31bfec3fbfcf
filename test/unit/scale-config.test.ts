import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'envision-scale-config-'));

function load(env: Record<string, string>) {
  return loadConfig({ DATA_DIR: dataDir, ...env });
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    load(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('storage configuration', () => {
  it('keeps files on local disk by default', () => {
    assert.deepEqual(load({}).storage, { driver: 'local' });
  });

  it('selects S3 when a bucket is named', () => {
    const storage = load({
      S3_BUCKET: 'envision-photos',
      S3_ENDPOINT: 'http://127.0.0.1:9000/',
      S3_ACCESS_KEY_ID: 'key',
      S3_SECRET_ACCESS_KEY: 'secret',
    }).storage;

    assert.equal(storage.driver, 's3');
    assert.deepEqual(storage.driver === 's3' && storage.s3, {
      bucket: 'envision-photos',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9000',
      publicEndpoint: undefined,
      forcePathStyle: true,
      credentials: { accessKeyId: 'key', secretAccessKey: 'secret', sessionToken: undefined },
      keyPrefix: '',
    });
  });

  it('uses virtual-hosted addressing and the default credential chain without an endpoint', () => {
    const storage = load({ STORAGE_DRIVER: 's3', S3_BUCKET: 'envision-photos', S3_REGION: 'eu-west-1' }).storage;

    assert.ok(storage.driver === 's3');
    assert.equal(storage.s3.endpoint, undefined);
    assert.equal(storage.s3.forcePathStyle, false);
    assert.equal(storage.s3.credentials, undefined);
    assert.equal(storage.s3.region, 'eu-west-1');
  });

  it('reads the public endpoint, path style and key prefix', () => {
    const storage = load({
      S3_BUCKET: 'envision-photos',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_PUBLIC_ENDPOINT: 'https://files.example.test',
      S3_FORCE_PATH_STYLE: 'false',
      S3_KEY_PREFIX: 'production/',
      S3_ACCESS_KEY_ID: 'key',
      S3_SECRET_ACCESS_KEY: 'secret',
      S3_SESSION_TOKEN: 'session',
    }).storage;

    assert.ok(storage.driver === 's3');
    assert.equal(storage.s3.publicEndpoint, 'https://files.example.test');
    assert.equal(storage.s3.forcePathStyle, false);
    assert.equal(storage.s3.keyPrefix, 'production/');
    assert.equal(storage.s3.credentials?.sessionToken, 'session');
  });

  it('requires a bucket for the s3 driver', () => {
    assert.deepEqual(problemsOf({ STORAGE_DRIVER: 's3' }), ['S3_BUCKET is required when STORAGE_DRIVER is s3']);
  });

  it('reports every invalid S3 variable at once', () => {
    const problems = problemsOf({
      S3_BUCKET: 'Not_A Bucket',
      S3_ENDPOINT: 'ftp://127.0.0.1',
      S3_PUBLIC_ENDPOINT: 'not a url',
      S3_FORCE_PATH_STYLE: 'sometimes',
      S3_KEY_PREFIX: 'no-trailing-slash',
      S3_ACCESS_KEY_ID: 'key-without-secret',
    });

    assert.equal(problems.length, 6);
    assert.match(problems.join('\n'), /S3_BUCKET must be a bucket name .* got "Not_A Bucket"/);
    assert.match(problems.join('\n'), /S3_ENDPOINT must use http: or https:/);
    assert.match(problems.join('\n'), /S3_PUBLIC_ENDPOINT must be an absolute URL/);
    assert.match(problems.join('\n'), /S3_FORCE_PATH_STYLE must be true or false/);
    assert.match(problems.join('\n'), /S3_KEY_PREFIX must be a key path ending in "\/"/);
    assert.match(problems.join('\n'), /S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together/);
  });

  it('rejects a session token without keys', () => {
    assert.deepEqual(problemsOf({ S3_BUCKET: 'envision-photos', S3_SESSION_TOKEN: 'session' }), [
      'S3_SESSION_TOKEN needs S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY',
    ]);
  });

  it('rejects S3 variables beside the local driver', () => {
    assert.deepEqual(problemsOf({ STORAGE_DRIVER: 'local', S3_BUCKET: 'envision-photos', S3_REGION: 'auto' }), [
      'S3_BUCKET, S3_REGION set but STORAGE_DRIVER is local; set STORAGE_DRIVER=s3 or remove them',
    ]);
  });

  it('rejects an unknown driver', () => {
    assert.match(problemsOf({ STORAGE_DRIVER: 'gcs' })[0]!, /STORAGE_DRIVER must be one of local, s3, got "gcs"/);
  });
});

describe('Redis queue configuration', () => {
  it('keeps the embedded queue without REDIS_URL', () => {
    assert.equal(load({}).redisQueue, undefined);
  });

  it('reads the URL, key prefix and engine limits', () => {
    const redisQueue = load({
      REDIS_URL: 'redis://:secret@127.0.0.1:6380/2',
      REDIS_KEY_PREFIX: 'envision-staging',
      ENGINE_CONCURRENCY: 'local=2, replicate=8',
    }).redisQueue;

    assert.deepEqual(redisQueue, {
      url: 'redis://:secret@127.0.0.1:6380/2',
      keyPrefix: 'envision-staging',
      engineConcurrency: { local: 2, replicate: 8 },
    });
  });

  it('defaults the key prefix and sets no engine limit', () => {
    assert.deepEqual(load({ REDIS_URL: 'rediss://127.0.0.1:6380' }).redisQueue, {
      url: 'rediss://127.0.0.1:6380',
      keyPrefix: 'envision',
      engineConcurrency: {},
    });
  });

  it('reports every invalid queue variable at once', () => {
    const problems = problemsOf({
      REDIS_URL: 'http://127.0.0.1:6379',
      REDIS_KEY_PREFIX: 'has spaces',
      ENGINE_CONCURRENCY: 'local=0,Bad Name=3,replicate=two',
    });

    assert.equal(problems.length, 5);
    assert.match(problems[0]!, /REDIS_URL must use redis: or rediss:/);
    assert.match(problems[1]!, /REDIS_KEY_PREFIX must be 1 to 64 letters/);
    assert.match(problems[2]!, /got "local=0"/);
    assert.match(problems[3]!, /got "Bad Name=3"/);
    assert.match(problems[4]!, /got "replicate=two"/);
  });

  it('rejects queue settings without REDIS_URL', () => {
    assert.deepEqual(problemsOf({ ENGINE_CONCURRENCY: 'local=2' }), [
      'ENGINE_CONCURRENCY applies to the Redis queue only; set REDIS_URL or remove it',
    ]);
  });
});

describe('operations configuration', () => {
  it('leaves /metrics open and starts no worker listener by default', () => {
    assert.deepEqual(load({}).operations, { metricsToken: undefined, workerMetricsPort: undefined });
  });

  it('reads the metrics token and worker port', () => {
    assert.deepEqual(load({ METRICS_TOKEN: 'a-token-of-24-characters', WORKER_METRICS_PORT: '9464' }).operations, {
      metricsToken: 'a-token-of-24-characters',
      workerMetricsPort: 9464,
    });
  });

  it('rejects a short token and a bad port', () => {
    const problems = problemsOf({ METRICS_TOKEN: 'short', WORKER_METRICS_PORT: '70000' });

    assert.match(problems[0]!, /METRICS_TOKEN must be at least 16 bytes/);
    assert.match(problems[1]!, /WORKER_METRICS_PORT must be a whole number from 1 to 65535/);
  });
});
