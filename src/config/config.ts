import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type OperationsConfig,
  type RedisQueueConfig,
  readOperationsConfig,
  readRedisQueueConfig,
  readStorageConfig,
  type StorageConfig,
} from './scale-config.js';
import type { QualityGateSettings } from '../domain/photos/face-quality-gate.js';
import { QUALITY_CHECKS } from '../domain/photos/quality-gate.js';
import { type EnginesConfig, readEngineConfig } from './engine-config.js';

/**
 * Typed configuration, read once from the environment at start-up and passed to whatever needs it.
 * Nothing else in the code reads `process.env`.
 */
export interface Config {
  mode: 'development' | 'production' | 'test';
  host: string;
  port: number;
  logLevel: string;
  dataDir: string;
  databaseUrl: string;
  webConcurrency: number;
  workerConcurrency: number;
  publicBaseUrl: string | undefined;
  jwt: {
    secret: string;
    ttlSeconds: number;
  };
  payments: {
    allowDebugPurchases: boolean;
  };
  apple: {
    bundleId: string;
    appAppleId: number | undefined;
    issuerId: string | undefined;
    keyId: string | undefined;
    privateKey: string | undefined;
    timeoutMs: number;
    /** Whether SignedDataVerifier checks certificate revocation online (OCSP) and dates against the current time. */
    onlineChecks: boolean;
    /** Replaces Apple Root CA G3 as the trust anchor for signed App Store data. Tests and benchmarks only. */
    rootCertificate: Buffer | undefined;
    /** Base URLs that replace Apple's App Store Server API hosts. Tests and benchmarks only. */
    apiUrls: { production: string | undefined; sandbox: string | undefined };
  };
  firebase: {
    credentialsPath: string | undefined;
  };
  packs: {
    /** How often each process checks the catalog version: the longest a pack change stays unseen. */
    refreshIntervalMs: number;
  };
  engines: EnginesConfig;
  shutdownTimeoutMs: number;
  storage: StorageConfig;
  operations: OperationsConfig;
  /** Set when REDIS_URL selects the BullMQ queue. */
  redisQueue: RedisQueueConfig | undefined;
  generation: GenerationConfig;
  uploads: UploadConfig;
  qualityGate: QualityGateConfig;
}

/** How generation tasks are run; see docs/generation.md. */
export interface GenerationConfig {
  /** Attempts per task before it fails for good, counting the first. */
  maxAttempts: number;
  /**
   * Deadline of one attempt (prepare plus render); a hung engine is aborted then and the task retried. An
   * engine with a longer `taskTimeoutMs` of its own (ComfyUI, Replicate) gets that one instead.
   */
  taskTimeoutMs: number;
  /** Delay before the first retry; each further retry doubles it, up to `retryMaxDelayMs`. */
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  /** How long a claimed task stays reserved for its worker without a renewal. */
  leaseMs: number;
  /** How often an idle worker looks for tasks; finished runs are checked for unsent pushes every ten. */
  pollIntervalMs: number;
}

/** Limits and processing of selfie uploads; see docs/uploads.md. */
export interface UploadConfig {
  /** Largest accepted image file, in bytes. */
  maxFileBytes: number;
  /** Largest accepted image, in pixels (width × height), read from the file's header before decoding. */
  maxPixels: number;
  maxPhotosPerJob: number;
  /** Requests per user and minute to /upload, and separately to /initalize-job. */
  rateLimitPerMinute: number;
  /** Photos decoded and normalised at the same time by one process; the rest wait. Bounds memory. */
  processingConcurrency: number;
  /** Longest side of a stored photo, in pixels; larger photos are scaled down. */
  photoMaxDimension: number;
  /** Lifetime of the signed photo links in responses, in seconds. */
  signedUrlTtlSeconds: number;
}

/** The photo quality gate; docs/quality-gate.md explains each threshold and how it was chosen. */
export interface QualityGateConfig extends QualityGateSettings {
  enabled: boolean;
  /** Worker threads for face analysis in each API process. */
  threads: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Environment = Record<string, string | undefined>;

/** Collects every problem with the environment, so one start-up reports all of them. */
export class EnvironmentReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Environment) {}

  string(name: string, fallback: string): string {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? fallback : value;
  }

  optionalString(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  decimal(name: string, fallback: number, minimum: number, maximum: number): number {
    const raw = this.optionalString(name);
    if (raw === undefined) {
      return fallback;
    }
    const value = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || value < minimum || value > maximum) {
      this.problems.push(`${name} must be a number from ${minimum} to ${maximum}, got "${raw}"`);
      return fallback;
    }
    return value;
  }

  /** A comma-separated list whose items must all be in `allowed`. */
  listOf<T extends string>(name: string, allowed: readonly T[]): T[] {
    const items = (this.optionalString(name) ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
    const unknown = items.filter((item) => !(allowed as readonly string[]).includes(item));
    if (unknown.length > 0) {
      this.problems.push(`${name} must list only ${allowed.join(', ')}, got "${unknown.join(', ')}"`);
      return [];
    }
    return [...new Set(items)] as T[];
  }

  integer(name: string, fallback: number, minimum: number, maximum: number): number {
    const raw = this.optionalString(name);
    if (raw === undefined) {
      return fallback;
    }
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < minimum || value > maximum) {
      this.problems.push(`${name} must be a whole number from ${minimum} to ${maximum}, got "${raw}"`);
      return fallback;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.optionalString(name)?.toLowerCase();
    if (raw === undefined) {
      return fallback;
    }
    if (['true', '1', 'yes'].includes(raw)) {
      return true;
    }
    if (['false', '0', 'no'].includes(raw)) {
      return false;
    }
    this.problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.optionalString(name);
    if (raw === undefined) {
      return fallback;
    }
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
      return fallback;
    }
    return raw as T;
  }

  url(name: string, protocols: readonly string[]): string | undefined {
    const raw = this.optionalString(name);
    if (raw === undefined) {
      return undefined;
    }
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(`${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
      }
    } catch {
      this.problems.push(`${name} must be an absolute URL, got "${raw}"`);
    }
    return raw.replace(/\/+$/, '');
  }
}

const MODES = ['development', 'production', 'test'] as const;

/**
 * Reads and validates the configuration. Throws a ConfigError that lists every invalid variable.
 * In production mode it also rejects the development shortcuts: a generated JWT secret, debug purchases
 * and missing App Store credentials.
 */
export function loadConfig(env: Environment = process.env): Config {
  const read = new EnvironmentReader(env);
  const mode = read.oneOf('NODE_ENV', MODES, 'development');
  const dataDir = path.resolve(read.string('DATA_DIR', './data'));
  const databaseUrl = read.string('DATABASE_URL', path.join(dataDir, 'envision.sqlite'));
  const production = mode === 'production';

  const jwtSecret = read.optionalString('JWT_SECRET');
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret) < 32) {
    read.problems.push('JWT_SECRET must be at least 32 bytes long; generate one with `openssl rand -base64 48`');
  }
  if (production && jwtSecret === undefined) {
    read.problems.push('JWT_SECRET is required in production; generate one with `openssl rand -base64 48`');
  }

  const allowDebugPurchases = read.boolean('ALLOW_DEBUG_PURCHASES', !production);
  if (production && allowDebugPurchases) {
    read.problems.push('ALLOW_DEBUG_PURCHASES must be false in production: debug purchases skip the App Store check');
  }

  const apple = {
    bundleId: read.string('APPLE_BUNDLE_ID', 'com.envision.app'),
    appAppleId: optionalPositiveInteger(read, 'APPLE_APP_APPLE_ID'),
    issuerId: read.optionalString('APPLE_ISSUER_ID'),
    keyId: read.optionalString('APPLE_KEY_ID'),
    privateKey: readApplePrivateKey(read),
    timeoutMs: read.integer('APPLE_TIMEOUT_MS', 10_000, 100, 120_000),
    onlineChecks: read.boolean('APPLE_ONLINE_CHECKS', true),
    rootCertificate: readOptionalFile(read, 'APPLE_ROOT_CERTIFICATE_PATH'),
    apiUrls: {
      production: read.url('APPLE_PRODUCTION_API_URL', ['http:', 'https:']),
      sandbox: read.url('APPLE_SANDBOX_API_URL', ['http:', 'https:']),
    },
  };
  checkAppleCredentials(read, apple, production);
  if (production) {
    for (const [name, value] of [
      ['APPLE_ISSUER_ID', apple.issuerId],
      ['APPLE_KEY_ID', apple.keyId],
      ['APPLE_PRIVATE_KEY_PATH', apple.privateKey],
      ['APPLE_APP_APPLE_ID', apple.appAppleId],
      ['APPLE_BUNDLE_ID', read.optionalString('APPLE_BUNDLE_ID')],
    ] as const) {
      if (value === undefined) {
        read.problems.push(`${name} is required in production to check purchases with the App Store Server API`);
      }
    }
  }

  const config: Config = {
    mode,
    host: read.string('HOST', '127.0.0.1'),
    port: read.integer('PORT', 3000, 0, 65_535),
    logLevel: read.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    dataDir,
    databaseUrl,
    webConcurrency: read.integer('WEB_CONCURRENCY', 1, 1, 64),
    workerConcurrency: read.integer('WORKER_CONCURRENCY', 2, 1, 64),
    publicBaseUrl: read.url('PUBLIC_BASE_URL', ['http:', 'https:']),
    jwt: {
      secret: jwtSecret ?? '',
      ttlSeconds: read.integer('JWT_TTL_SECONDS', 7 * 24 * 3600, 60, 365 * 24 * 3600),
    },
    payments: { allowDebugPurchases },
    apple,
    firebase: {
      credentialsPath: readFirebaseCredentialsPath(read),
    },
    packs: {
      refreshIntervalMs: read.integer('PACKS_REFRESH_INTERVAL_MS', 2000, 100, 600_000),
    },
    engines: readEngineConfig(read, read.optionalString('PUBLIC_BASE_URL')?.replace(/\/+$/, '')),
    shutdownTimeoutMs: read.integer('SHUTDOWN_TIMEOUT_MS', 15_000, 100, 600_000),
    storage: readStorageConfig(read),
    operations: readOperationsConfig(read),
    redisQueue: readRedisQueueConfig(read),
    generation: readGenerationConfig(read),
    uploads: readUploadConfig(read),
    qualityGate: readQualityGate(read),
  };

  if (read.problems.length > 0) {
    throw new ConfigError(read.problems);
  }
  if (config.jwt.secret === '') {
    config.jwt.secret = developmentJwtSecret(config.dataDir);
  }
  return config;
}

function readGenerationConfig(read: EnvironmentReader): GenerationConfig {
  const generation: GenerationConfig = {
    maxAttempts: read.integer('TASK_MAX_ATTEMPTS', 3, 1, 20),
    taskTimeoutMs: read.integer('TASK_TIMEOUT_MS', 180_000, 100, 3_600_000),
    retryBaseDelayMs: read.integer('TASK_RETRY_BASE_DELAY_MS', 2_000, 0, 3_600_000),
    retryMaxDelayMs: read.integer('TASK_RETRY_MAX_DELAY_MS', 60_000, 0, 3_600_000),
    leaseMs: read.integer('WORKER_LEASE_MS', 30_000, 300, 3_600_000),
    pollIntervalMs: read.integer('WORKER_POLL_INTERVAL_MS', 1_000, 10, 600_000),
  };
  if (generation.retryMaxDelayMs < generation.retryBaseDelayMs) {
    read.problems.push('TASK_RETRY_MAX_DELAY_MS must be at least TASK_RETRY_BASE_DELAY_MS');
  }
  return generation;
}

function readUploadConfig(read: EnvironmentReader): UploadConfig {
  return {
    maxFileBytes: read.integer('UPLOAD_MAX_FILE_BYTES', 25 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    maxPixels: read.integer('UPLOAD_MAX_MEGAPIXELS', 50, 1, 1000) * 1_000_000,
    maxPhotosPerJob: read.integer('UPLOAD_MAX_PHOTOS_PER_JOB', 30, 1, 1000),
    rateLimitPerMinute: read.integer('UPLOAD_RATE_LIMIT_PER_MINUTE', 60, 1, 100_000),
    processingConcurrency: read.integer('UPLOAD_PROCESSING_CONCURRENCY', 2, 1, 64),
    // 1536 is over twice the 512 to 1024 pixels that face checks and generation engines use, and it lets
    // libjpeg decode photos of 3072 pixels and more at half size, which halves decoding time and memory.
    photoMaxDimension: read.integer('PHOTO_MAX_DIMENSION', 1536, 256, 8192),
    signedUrlTtlSeconds: read.integer('SIGNED_URL_TTL_SECONDS', 3600, 60, 7 * 24 * 3600),
  };
}

/**
 * Face analysis uses one core per thread. The default leaves one core to the event loop and caps the
 * pool at four threads, because each thread loads its own copy of the models.
 */
const DEFAULT_QUALITY_GATE_THREADS = Math.max(1, Math.min(4, os.availableParallelism() - 1));

function readQualityGate(read: EnvironmentReader): QualityGateConfig {
  return {
    enabled: read.boolean('QUALITY_GATE_ENABLED', true),
    threads: read.integer('QUALITY_GATE_THREADS', DEFAULT_QUALITY_GATE_THREADS, 1, 64),
    skippedChecks: read.listOf('QUALITY_GATE_SKIP_CHECKS', QUALITY_CHECKS),
    minFaceSize: read.decimal('QUALITY_MIN_FACE_SIZE', 0.1, 0, 1),
    minSharpness: read.decimal('QUALITY_MIN_SHARPNESS', 0.012, 0, 100),
    duplicateMaxDistance: read.integer('QUALITY_DUPLICATE_MAX_BITS', 10, 0, 64),
    samePersonMaxDistance: read.decimal('QUALITY_SAME_PERSON_MAX_DISTANCE', 0.6, 0, 2),
  };
}

function optionalPositiveInteger(read: EnvironmentReader, name: string): number | undefined {
  return read.optionalString(name) === undefined ? undefined : read.integer(name, 0, 1, Number.MAX_SAFE_INTEGER);
}

function readApplePrivateKey(read: EnvironmentReader): string | undefined {
  const keyPath = read.optionalString('APPLE_PRIVATE_KEY_PATH');
  if (keyPath === undefined) {
    return undefined;
  }
  try {
    return readFileSync(keyPath, 'utf8');
  } catch (error) {
    read.problems.push(`APPLE_PRIVATE_KEY_PATH could not be read (${(error as Error).message})`);
    return undefined;
  }
}

function readOptionalFile(read: EnvironmentReader, name: string): Buffer | undefined {
  const filePath = read.optionalString(name);
  if (filePath === undefined) {
    return undefined;
  }
  try {
    return readFileSync(filePath);
  } catch (error) {
    read.problems.push(`${name} could not be read (${(error as Error).message})`);
    return undefined;
  }
}

/**
 * Checks that the App Store credentials are all set or all unset (then only debug purchases work), and
 * rejects the test overrides of Apple's trust anchor and hosts in production.
 */
function checkAppleCredentials(read: EnvironmentReader, apple: Config['apple'], production: boolean): void {
  const credentials = [
    ['APPLE_ISSUER_ID', apple.issuerId],
    ['APPLE_KEY_ID', apple.keyId],
    ['APPLE_PRIVATE_KEY_PATH', apple.privateKey],
    ['APPLE_APP_APPLE_ID', apple.appAppleId],
  ] as const;
  const missing = credentials.filter(([, value]) => value === undefined).map(([name]) => name);
  if (!production && missing.length > 0 && missing.length < credentials.length) {
    read.problems.push(`${missing.join(', ')} must be set too: the App Store client needs all of its credentials`);
  }
  if (production) {
    for (const name of ['APPLE_ROOT_CERTIFICATE_PATH', 'APPLE_PRODUCTION_API_URL', 'APPLE_SANDBOX_API_URL']) {
      if (read.optionalString(name) !== undefined) {
        read.problems.push(`${name} must not be set in production: it exists for tests against a fake App Store`);
      }
    }
  }
}

/** Checks that GOOGLE_APPLICATION_CREDENTIALS names a readable service account key file. */
function readFirebaseCredentialsPath(read: EnvironmentReader): string | undefined {
  const name = 'GOOGLE_APPLICATION_CREDENTIALS';
  const content = readOptionalFile(read, name);
  if (content === undefined) {
    return undefined;
  }
  try {
    const key = JSON.parse(content.toString('utf8')) as Record<string, unknown>;
    if (key.type !== 'service_account' || typeof key.project_id !== 'string' || typeof key.private_key !== 'string') {
      read.problems.push(`${name} must name a service account key file (type "service_account" with project_id and private_key)`);
    }
  } catch (error) {
    read.problems.push(`${name} is not a JSON key file (${(error as Error).message})`);
  }
  return read.optionalString(name);
}

/**
 * Outside production a missing JWT_SECRET gets a random secret kept in the data directory, so tokens
 * survive restarts and every process of one installation signs with the same key.
 */
function developmentJwtSecret(dataDir: string): string {
  const secretPath = path.join(dataDir, 'development-jwt-secret');
  if (existsSync(secretPath)) {
    return readFileSync(secretPath, 'utf8').trim();
  }
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  try {
    // 'wx' fails if another process created the file first; then that process's secret wins.
    writeFileSync(secretPath, secret, { flag: 'wx', mode: 0o600 });
    return secret;
  } catch {
    return readFileSync(secretPath, 'utf8').trim();
  }
}
