import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type Config, loadConfig } from '../../src/config/config.js';
import { migrateToLatest, openDatabase } from '../../src/adapters/database/database.js';
import { type Container, type ContainerOverrides, createContainer } from '../../src/container.js';
import { buildApp } from '../../src/http/app.js';
import type { DatabaseKind } from './databases.js';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface TestContext {
  app: FastifyInstance;
  container: Container;
  config: Config;
  close(): Promise<void>;
}

export interface TestContextOptions {
  /** Extra environment variables, on top of the test defaults. */
  env?: Record<string, string>;
  overrides?: (config: Config) => ContainerOverrides | Promise<ContainerOverrides>;
}

/**
 * Test configuration: a temporary data directory, silent logs and a fixed JWT secret. The photo quality
 * gate is off unless a test sets QUALITY_GATE_ENABLED=true, so upload tests that are not about the gate
 * can reuse one fixture photo without tripping its duplicate and face checks.
 */
export function testConfig(databaseUrl: string, dataDir: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    QUALITY_GATE_ENABLED: 'false',
    ...env,
  });
}

/**
 * Builds the whole application on a new, migrated database of `kind`, for tests that go through
 * `app.inject`. `close()` shuts the app and drops the database and the data directory.
 */
export async function createTestContext(kind: DatabaseKind, options: TestContextOptions = {}): Promise<TestContext> {
  const database = await kind.create();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'envision-data-'));
  const config = testConfig(database.url, dataDir, options.env);

  const connection = openDatabase(config.databaseUrl);
  await migrateToLatest(connection.db);
  const overrides = { database: connection, ...(await options.overrides?.(config)) };
  const container = await createContainer(config, overrides);
  const app = await buildApp(container);
  await app.ready();

  return {
    app,
    container,
    config,
    close: async () => {
      await app.close();
      await container.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
