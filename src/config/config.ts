import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

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
  };
  firebase: {
    credentialsPath: string | undefined;
  };
  packs: {
    /** How often each process checks the catalog version: the longest a pack change stays unseen. */
    refreshIntervalMs: number;
  };
  shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Environment = Record<string, string | undefined>;

/** Collects every problem with the environment, so one start-up reports all of them. */
class EnvironmentReader {
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
  };
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
      credentialsPath: read.optionalString('GOOGLE_APPLICATION_CREDENTIALS'),
    },
    packs: {
      refreshIntervalMs: read.integer('PACKS_REFRESH_INTERVAL_MS', 2000, 100, 600_000),
    },
    shutdownTimeoutMs: read.integer('SHUTDOWN_TIMEOUT_MS', 15_000, 100, 600_000),
  };

  if (read.problems.length > 0) {
    throw new ConfigError(read.problems);
  }
  if (config.jwt.secret === '') {
    config.jwt.secret = developmentJwtSecret(config.dataDir);
  }
  return config;
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
