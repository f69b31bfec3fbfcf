import type { EnvironmentReader } from './config.js';

/** Storage for photos and generated images, described in docs/deployment.md. */
export type StorageConfig = { driver: 'local' } | { driver: 's3'; s3: S3Config };

export interface S3Config {
  bucket: string;
  /** Region used for request signing, `auto` for Cloudflare R2. */
  region: string;
  /** Endpoint of an S3-compatible service. Undefined means AWS S3 itself, reached by region. */
  endpoint: string | undefined;
  /** Endpoint written into presigned links, when clients reach the service by another address. */
  publicEndpoint: string | undefined;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`. MinIO needs it. */
  forcePathStyle: boolean;
  /** Static keys. Undefined means the AWS SDK's default chain (environment, shared files, instance role). */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string | undefined } | undefined;
  /** Prepended to every key, so several installations can share one bucket. Empty or ending in `/`. */
  keyPrefix: string;
}

const STORAGE_DRIVERS = ['local', 's3'] as const;

// Bucket names of S3, R2, MinIO and Cloud Storage: lowercase letters, digits, dots, hyphens and (Cloud
// Storage only) underscores, starting and ending with a letter or digit. Each service has further rules.
const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
const KEY_PREFIX = /^[A-Za-z0-9!_.*'()/-]*$/;

/**
 * Reads STORAGE_DRIVER and the S3_* variables. S3 storage is chosen by STORAGE_DRIVER=s3, or by
 * S3_BUCKET alone when STORAGE_DRIVER is unset.
 */
export function readStorageConfig(read: EnvironmentReader): StorageConfig {
  const bucket = read.optionalString('S3_BUCKET');
  const driver = read.oneOf('STORAGE_DRIVER', STORAGE_DRIVERS, bucket === undefined ? 'local' : 's3');
  if (driver === 'local') {
    const stray = S3_VARIABLES.filter((name) => read.optionalString(name) !== undefined);
    if (stray.length > 0) {
      read.problems.push(`${stray.join(', ')} set but STORAGE_DRIVER is local; set STORAGE_DRIVER=s3 or remove them`);
    }
    return { driver: 'local' };
  }

  if (bucket === undefined) {
    read.problems.push('S3_BUCKET is required when STORAGE_DRIVER is s3');
  } else if (!BUCKET_NAME.test(bucket)) {
    read.problems.push(`S3_BUCKET must be a bucket name (lowercase letters, digits, dots and hyphens), got "${bucket}"`);
  }

  const endpoint = read.url('S3_ENDPOINT', ['http:', 'https:']);
  const keyPrefix = read.string('S3_KEY_PREFIX', '');
  if (!KEY_PREFIX.test(keyPrefix) || keyPrefix.startsWith('/') || (keyPrefix !== '' && !keyPrefix.endsWith('/'))) {
    read.problems.push(`S3_KEY_PREFIX must be a key path ending in "/" (such as "envision/"), got "${keyPrefix}"`);
  }

  return {
    driver: 's3',
    s3: {
      bucket: bucket ?? '',
      region: read.string('S3_REGION', 'us-east-1'),
      endpoint,
      publicEndpoint: read.url('S3_PUBLIC_ENDPOINT', ['http:', 'https:']),
      forcePathStyle: read.boolean('S3_FORCE_PATH_STYLE', endpoint !== undefined),
      credentials: readS3Credentials(read),
      keyPrefix,
    },
  };
}

const S3_VARIABLES = [
  'S3_BUCKET',
  'S3_REGION',
  'S3_ENDPOINT',
  'S3_PUBLIC_ENDPOINT',
  'S3_FORCE_PATH_STYLE',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
  'S3_SESSION_TOKEN',
  'S3_KEY_PREFIX',
];

function readS3Credentials(read: EnvironmentReader): S3Config['credentials'] {
  const accessKeyId = read.optionalString('S3_ACCESS_KEY_ID');
  const secretAccessKey = read.optionalString('S3_SECRET_ACCESS_KEY');
  const sessionToken = read.optionalString('S3_SESSION_TOKEN');
  if (accessKeyId === undefined && secretAccessKey === undefined) {
    if (sessionToken !== undefined) {
      read.problems.push('S3_SESSION_TOKEN needs S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY');
    }
    return undefined;
  }
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    read.problems.push('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together');
    return undefined;
  }
  return { accessKeyId, secretAccessKey, sessionToken };
}

/** Settings for operators' endpoints; see docs/deployment.md. */
export interface OperationsConfig {
  /** Bearer token that /metrics requires; undefined leaves /metrics open, for networks that restrict it. */
  metricsToken: string | undefined;
  /** Port of the /metrics listener of `envision worker`, which serves no API; undefined for none. */
  workerMetricsPort: number | undefined;
}

export function readOperationsConfig(read: EnvironmentReader): OperationsConfig {
  const metricsToken = read.optionalString('METRICS_TOKEN');
  if (metricsToken !== undefined && Buffer.byteLength(metricsToken) < 16) {
    read.problems.push('METRICS_TOKEN must be at least 16 bytes long; generate one with `openssl rand -hex 24`');
  }
  const workerMetricsPort =
    read.optionalString('WORKER_METRICS_PORT') === undefined ? undefined : read.integer('WORKER_METRICS_PORT', 0, 1, 65_535);
  return { metricsToken, workerMetricsPort };
}

/** The BullMQ queue on Redis, used in place of the embedded queue when REDIS_URL is set. */
export interface RedisQueueConfig {
  /** `redis://` or `rediss://` (TLS) URL, with user name, password and database number if needed. */
  url: string;
  /** Prefix of every Redis key the queue writes, so several installations can share one Redis. */
  keyPrefix: string;
  /** Cluster-wide limit of tasks running at once per engine; engines not listed have no limit. */
  engineConcurrency: Record<string, number>;
}

const KEY_PREFIX_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const ENGINE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** Reads REDIS_URL, REDIS_KEY_PREFIX and ENGINE_CONCURRENCY; undefined without REDIS_URL. */
export function readRedisQueueConfig(read: EnvironmentReader): RedisQueueConfig | undefined {
  const url = read.url('REDIS_URL', ['redis:', 'rediss:']);
  const keyPrefix = read.string('REDIS_KEY_PREFIX', 'envision');
  if (!KEY_PREFIX_NAME.test(keyPrefix)) {
    read.problems.push(`REDIS_KEY_PREFIX must be 1 to 64 letters, digits, ".", "_" or "-", got "${keyPrefix}"`);
  }
  const engineConcurrency = parseEngineConcurrency(read);
  if (url === undefined) {
    for (const name of ['REDIS_KEY_PREFIX', 'ENGINE_CONCURRENCY']) {
      if (read.optionalString(name) !== undefined) {
        read.problems.push(`${name} applies to the Redis queue only; set REDIS_URL or remove it`);
      }
    }
    return undefined;
  }
  return { url, keyPrefix, engineConcurrency };
}

/** Parses ENGINE_CONCURRENCY, such as `local=2,replicate=8`. */
function parseEngineConcurrency(read: EnvironmentReader): Record<string, number> {
  const raw = read.optionalString('ENGINE_CONCURRENCY');
  const limits: Record<string, number> = {};
  if (raw === undefined) {
    return limits;
  }
  for (const entry of raw.split(',')) {
    const [engine = '', limit = ''] = entry.split('=').map((part) => part.trim());
    const value = Number(limit);
    if (!ENGINE_NAME.test(engine) || !/^\d+$/.test(limit) || value < 1 || value > 10_000) {
      read.problems.push(`ENGINE_CONCURRENCY must be a list like "local=2,replicate=8" (limits 1 to 10000), got "${entry.trim()}" in "${raw}"`);
      continue;
    }
    limits[engine] = value;
  }
  return limits;
}
