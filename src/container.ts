import pino, { type Logger } from 'pino';
import type { Config } from './config/config.js';
import { type DatabaseConnection, openDatabase } from './adapters/database/database.js';
import type { GenerationEngine } from './adapters/engines/generation-engine.js';
import { createRemoteEngines } from './adapters/engines/remote-engines.js';
import type { ReplicateEngine } from './adapters/engines/replicate/replicate-engine.js';
import type { ObjectStorage } from './adapters/storage/object-storage.js';
import { TokenService } from './domain/auth/token-service.js';
import { type Clock, systemClock } from './domain/clock.js';

/**
 * Everything a process needs, built once from the configuration. Adapters for the outside world are
 * created here and nowhere else, so tests can swap any of them through `ContainerOverrides`.
 */
export interface Container {
  config: Config;
  clock: Clock;
  database: DatabaseConnection;
  tokens: TokenService;
  /** Log for work outside requests, such as engine calls. */
  logger: Logger;
  /** Generation engines by name, as packs' `engine` column and GENERATION_ENGINE name them. */
  engines: Record<string, GenerationEngine>;
  /** Receives Replicate's webhooks; undefined unless REPLICATE_API_TOKEN is set. */
  replicateWebhooks: ReplicateEngine | undefined;
  /** Checks that `/readyz` runs, by dependency name. */
  readinessChecks: Record<string, () => Promise<void>>;
  /** Closes every adapter in reverse order of creation. */
  close(): Promise<void>;
}

export interface ContainerOverrides {
  clock?: Clock;
  database?: DatabaseConnection;
  logger?: Logger;
  storage?: ObjectStorage;
  /** Engines added to, or replacing, the configured ones by name. */
  engines?: Record<string, GenerationEngine>;
}

export async function createContainer(config: Config, overrides: ContainerOverrides = {}): Promise<Container> {
  const closers: Array<() => Promise<void>> = [];
  const clock = overrides.clock ?? systemClock;

  const database = overrides.database ?? openDatabase(config.databaseUrl);
  closers.push(() => database.close());

  const tokens = new TokenService(config.jwt.secret, config.jwt.ttlSeconds, clock);
  const logger = overrides.logger ?? pino({ level: config.logLevel });

  const remote = createRemoteEngines(config.engines, { database, clock, logger, ...(overrides.storage ? { storage: overrides.storage } : {}) });
  for (const engine of Object.values(remote.engines)) {
    engine.startReconciler(config.engines.reconcileIntervalMs);
    closers.push(() => engine.close());
  }

  return {
    config,
    clock,
    database,
    tokens,
    logger,
    engines: { ...remote.engines, ...overrides.engines },
    replicateWebhooks: remote.replicate,
    readinessChecks: { database: () => database.ping() },
    close: async () => {
      for (const close of closers.reverse()) {
        await close();
      }
    },
  };
}
