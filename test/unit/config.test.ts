import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'envision-config-'));

describe('loadConfig', () => {
  it('applies defaults for development', () => {
    const config = loadConfig({ DATA_DIR: dataDir });

    assert.equal(config.mode, 'development');
    assert.equal(config.port, 3000);
    assert.equal(config.webConcurrency, 1);
    assert.equal(config.payments.allowDebugPurchases, true);
    assert.equal(config.databaseUrl, path.join(dataDir, 'envision.sqlite'));
    assert.ok(config.jwt.secret.length >= 32, 'a development JWT secret is generated');
  });

  it('keeps the generated development secret across loads', () => {
    const first = loadConfig({ DATA_DIR: dataDir });
    const second = loadConfig({ DATA_DIR: dataDir });

    assert.equal(first.jwt.secret, second.jwt.secret);
  });

  it('reports every invalid variable at once', () => {
    const error = captureConfigError({ DATA_DIR: dataDir, PORT: 'eighty', WEB_CONCURRENCY: '0', LOG_LEVEL: 'loud' });

    assert.equal(error.problems.length, 3);
    assert.match(error.message, /PORT must be a whole number/);
    assert.match(error.message, /WEB_CONCURRENCY must be a whole number from 1 to 64, got "0"/);
    assert.match(error.message, /LOG_LEVEL must be one of/);
  });

  it('rejects development shortcuts in production', () => {
    const error = captureConfigError({ DATA_DIR: dataDir, NODE_ENV: 'production', ALLOW_DEBUG_PURCHASES: 'true' });

    assert.match(error.message, /JWT_SECRET is required in production/);
    assert.match(error.message, /ALLOW_DEBUG_PURCHASES must be false in production/);
    assert.match(error.message, /APPLE_ISSUER_ID is required in production/);
    assert.match(error.message, /APPLE_PRIVATE_KEY_PATH is required in production/);
  });

  it('turns debug purchases off by default in production', () => {
    const error = captureConfigError({ DATA_DIR: dataDir, NODE_ENV: 'production' });

    assert.doesNotMatch(error.message, /ALLOW_DEBUG_PURCHASES/);
  });

  it('requires all App Store credentials or none', () => {
    const error = captureConfigError({ DATA_DIR: dataDir, APPLE_ISSUER_ID: 'issuer', APPLE_KEY_ID: 'KEY123' });

    assert.match(error.message, /APPLE_PRIVATE_KEY_PATH, APPLE_APP_APPLE_ID must be set too/);
  });

  it('rejects the fake App Store settings in production', () => {
    const error = captureConfigError({
      DATA_DIR: dataDir,
      NODE_ENV: 'production',
      APPLE_PRODUCTION_API_URL: 'http://127.0.0.1:9999/production',
      APPLE_ROOT_CERTIFICATE_PATH: keyFile('root.cer', 'not a certificate'),
    });

    assert.match(error.message, /APPLE_PRODUCTION_API_URL must not be set in production/);
    assert.match(error.message, /APPLE_ROOT_CERTIFICATE_PATH must not be set in production/);
  });

  it('rejects Firebase credentials that are not a service account key', () => {
    const error = captureConfigError({
      DATA_DIR: dataDir,
      GOOGLE_APPLICATION_CREDENTIALS: keyFile('user.json', JSON.stringify({ type: 'authorized_user' })),
    });

    assert.match(error.message, /GOOGLE_APPLICATION_CREDENTIALS must name a service account key file/);
  });

  it('reports an unreadable Firebase key file', () => {
    const error = captureConfigError({ DATA_DIR: dataDir, GOOGLE_APPLICATION_CREDENTIALS: path.join(dataDir, 'missing.json') });

    assert.match(error.message, /GOOGLE_APPLICATION_CREDENTIALS could not be read/);
  });

  it('rejects a short JWT secret', () => {
    const error = captureConfigError({ DATA_DIR: dataDir, JWT_SECRET: 'short' });

    assert.match(error.message, /JWT_SECRET must be at least 32 bytes/);
  });
});

function keyFile(name: string, content: string): string {
  const file = path.join(dataDir, name);
  writeFileSync(file, content);
  return file;
}

function captureConfigError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error;
  }
  assert.fail('loadConfig accepted an invalid configuration');
}
