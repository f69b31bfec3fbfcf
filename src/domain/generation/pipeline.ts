import type { Logger } from 'pino';
import type { DatabaseConnection } from '../../adapters/database/database.js';
import { GenerationRepository } from '../../adapters/database/repositories/generation-repository.js';
import { PhotosRepository } from '../../adapters/database/repositories/photos-repository.js';
import { TaskLeaseRepository } from '../../adapters/database/repositories/task-lease-repository.js';
import type { UserRepository } from '../../adapters/database/repositories/user-repository.js';
import type { GenerationEngine } from '../../adapters/engines/generation-engine.js';
import type { PushNotifier } from '../../adapters/push/push-notifier.js';
import { DatabaseTaskQueue } from '../../adapters/queue/database-task-queue.js';
import type { TaskQueue } from '../../adapters/queue/task-queue.js';
import type { ObjectStorage } from '../../adapters/storage/object-storage.js';
import type { GenerationConfig } from '../../config/config.js';
import type { Clock } from '../clock.js';
import type { JobService } from '../jobs/job-service.js';
import type { PackService } from '../packs/pack-service.js';
import { EngineRegistry } from './engine-registry.js';
import { GenerationService } from './generation-service.js';
import { RunNotifier } from './run-notifier.js';
import { GenerationTaskProcessor } from './task-processor.js';

/** The parts of the generation pipeline: the HTTP side uses `service`, workers use `queue` and `processor`. */
export interface GenerationPipeline {
  service: GenerationService;
  processor: GenerationTaskProcessor;
  notifier: RunNotifier;
  queue: TaskQueue;
  engines: EngineRegistry;
}

export interface GenerationPipelineDependencies {
  config: GenerationConfig;
  /** Lifetime of the image links in /job-status, in seconds. */
  resultUrlTtlSeconds: number;
  database: DatabaseConnection;
  users: UserRepository;
  jobs: JobService;
  packs: Pick<PackService, 'findPackForGeneration'>;
  storage: ObjectStorage;
  pushNotifier: PushNotifier;
  /** Engines by the name packs and GENERATION_ENGINE use. */
  engines: Record<string, GenerationEngine>;
  /** Engine for packs whose `engine` is null. */
  defaultEngine: string;
  clock: Clock;
  logger: Logger;
  /** A queue to use in place of the embedded one. */
  queue?: TaskQueue;
}

export function createGenerationPipeline(deps: GenerationPipelineDependencies): GenerationPipeline {
  const { config, database, storage, clock, logger } = deps;
  const generation = new GenerationRepository(database.db);
  const photos = new PhotosRepository(database.db);
  const engines = new EngineRegistry(deps.engines, deps.defaultEngine);
  const queue =
    deps.queue ?? new DatabaseTaskQueue(new TaskLeaseRepository(database.db, database.dialect), clock, logger.child({ component: 'task-queue' }), config);
  const notifier = new RunNotifier(generation, deps.packs, deps.users, deps.pushNotifier, clock, logger.child({ component: 'push' }));
  const processor = new GenerationTaskProcessor({
    generation,
    photos,
    engines,
    storage,
    notifier,
    clock,
    logger: logger.child({ component: 'generation' }),
    taskTimeoutMs: config.taskTimeoutMs,
  });
  const service = new GenerationService({ generation, packs: deps.packs, jobs: deps.jobs, photos, users: deps.users, engines, queue, storage, clock, logger, config: { maxAttempts: config.maxAttempts, resultUrlTtlSeconds: deps.resultUrlTtlSeconds } });
  return { service, processor, notifier, queue, engines };
}
