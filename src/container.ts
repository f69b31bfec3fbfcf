import type { Config } from './config/config.js';
import { type DatabaseConnection, openDatabase } from './adapters/database/database.js';
import { TokenService } from './domain/auth/token-service.js';
import { type Clock, systemClock } from './domain/clock.js';
import pino, { type Logger } from 'pino';
import type { GenerationEngine } from './adapters/engines/generation-engine.js';
import { LoggingPushNotifier } from './adapters/push/logging-push-notifier.js';
import type { PushNotifier } from './adapters/push/push-notifier.js';
import type { TaskQueue } from './adapters/queue/task-queue.js';
import type { ObjectStorage } from './adapters/storage/object-storage.js';
import { type GenerationPipeline, createGenerationPipeline } from './domain/generation/pipeline.js';

/**
 * Everything a process needs, built once from the configuration. Adapters for the outside world are
 * created here and nowhere else, so tests can swap any of them through `ContainerOverrides`.
 */
export interface Container {
  config: Config;
  clock: Clock;
  database: DatabaseConnection;
  tokens: TokenService;
  /** Logger for work outside requests, such as generation workers. */
  logger: Logger;
  storage: ObjectStorage;
  pushNotifier: PushNotifier;
  generation: GenerationPipeline;
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
  pushNotifier?: PushNotifier;
  engines?: GenerationEngine[];
  taskQueue?: TaskQueue;
}

export async function createContainer(config: Config, overrides: ContainerOverrides = {}): Promise<Container> {
  const closers: Array<() => Promise<void>> = [];
  const clock = overrides.clock ?? systemClock;

  const database = overrides.database ?? openDatabase(config.databaseUrl);
  closers.push(() => database.close());

  const tokens = new TokenService(config.jwt.secret, config.jwt.ttlSeconds, clock);
  const logger = overrides.logger ?? pino({ level: config.logLevel });
  // TODO: default to the uploads area's LocalDiskStorage, and the payments area's Firebase notifier, and
  // register the local engine, as each lands.
  const storage = overrides.storage ?? missingStorage;
  const pushNotifier = overrides.pushNotifier ?? new LoggingPushNotifier(logger.child({ component: 'push' }));
  const generation = createGenerationPipeline({
    config: config.generation,
    database,
    storage,
    pushNotifier,
    engines: overrides.engines ?? [],
    clock,
    logger,
    queue: overrides.taskQueue,
  });

  return {
    config,
    clock,
    database,
    tokens,
    logger,
    storage,
    pushNotifier,
    generation,
    readinessChecks: { database: () => database.ping() },
    close: async () => {
      for (const close of closers.reverse()) {
        await close();
      }
    },
  };
}

function storageNotConfigured(): Promise<never> {
  return Promise.reject(new Error('No object storage is configured in this process'));
}

const missingStorage: ObjectStorage = {
  put: storageNotConfigured,
  get: storageNotConfigured,
  delete: storageNotConfigured,
  deletePrefix: storageNotConfigured,
  signedUrl: storageNotConfigured,
  ping: storageNotConfigured,
};
