import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { Config } from './config/config.js';
import { type DatabaseConnection, openDatabase } from './adapters/database/database.js';
import type { AppStore } from './adapters/app-store/app-store.js';
import { AppleAppStore, appleRootCertificate } from './adapters/app-store/apple-app-store.js';
import { UserRepository } from './adapters/database/repositories/user-repository.js';
import { cert } from 'firebase-admin/app';
import { FirebasePushNotifier } from './adapters/push/firebase-push-notifier.js';
import { LoggingPushNotifier } from './adapters/push/logging-push-notifier.js';
import type { PushNotifier } from './adapters/push/push-notifier.js';
import { TokenService } from './domain/auth/token-service.js';
import { type Clock, systemClock } from './domain/clock.js';
import { Metrics } from './adapters/metrics/metrics.js';
import { QueuedTaskRepository } from './adapters/database/repositories/queued-task-repository.js';
import { type BullMqTaskQueue, createBullMqTaskQueue } from './adapters/queue/bullmq-queue.js';
import { PacksRepository } from './adapters/database/repositories/packs-repository.js';
import { PackService } from './domain/packs/pack-service.js';
import { JobsRepository } from './adapters/database/repositories/jobs-repository.js';
import { PhotosRepository } from './adapters/database/repositories/photos-repository.js';
import { PhotoNormaliser } from './adapters/images/photo-normaliser.js';
import { FileLinkSigner, fileLinkBaseUrl } from './adapters/storage/file-links.js';
import { LocalDiskStorage } from './adapters/storage/local-disk-storage.js';
import { S3Storage } from './adapters/storage/s3-storage.js';
import type { ObjectStorage } from './adapters/storage/object-storage.js';
import type { GenerationEngine } from './adapters/engines/generation-engine.js';
import { createLocalEngine } from './adapters/engines/local/local-engine.js';
import { createRemoteEngines } from './adapters/engines/remote-engines.js';
import type { ReplicateEngine } from './adapters/engines/replicate/replicate-engine.js';
import { JobService } from './domain/jobs/job-service.js';
import { PhotoUploadService } from './domain/photos/photo-upload-service.js';
import { disabledQualityGate, type PhotoQualityGate } from './domain/photos/quality-gate.js';
import { removeFilesOlderThan } from './adapters/storage/stale-files.js';
import { PaymentService } from './domain/payments/payment-service.js';
import { FaceAnalysisPool } from './adapters/faces/face-analysis-pool.js';
import { FaceQualityGate } from './domain/photos/face-quality-gate.js';
import type { TaskQueue } from './adapters/queue/task-queue.js';
import { type GenerationPipeline, createGenerationPipeline } from './domain/generation/pipeline.js';

/**
 * Everything a process needs, built once from the configuration. Adapters for the outside world are
 * created here and nowhere else, so tests can swap any of them through `ContainerOverrides`.
 */
export interface Container {
  config: Config;
  clock: Clock;
  /** Logger for work outside a request; inside a request, use `request.log`. */
  logger: Logger;
  database: DatabaseConnection;
  tokens: TokenService;
  /** Prometheus metrics of this process, served at /metrics. */
  metrics: Metrics;
  packs: PackService;
  storage: ObjectStorage;
  /** Signs and checks the links that `GET /files/<key>` serves. */
  fileLinks: FileLinkSigner;
  /** Judges uploaded photos before they are stored. */
  qualityGate: PhotoQualityGate;
  jobs: JobService;
  photoUploads: PhotoUploadService;
  /** Directory for uploads while they arrive, before they are normalised and stored. */
  uploadTemporaryDirectory: string;
  users: UserRepository;
  /** Undefined when no App Store credentials are configured. */
  appStore: AppStore | undefined;
  /** Firebase Cloud Messaging, or a logging stand-in when GOOGLE_APPLICATION_CREDENTIALS is not set. */
  pushNotifier: PushNotifier;
  payments: PaymentService;
  generation: GenerationPipeline;
  /** Reads of generation tasks for queue recovery and metrics. */
  queuedTasks: QueuedTaskRepository;
  /** The BullMQ queue when REDIS_URL is set, for operators' commands. */
  redisQueue: BullMqTaskQueue | undefined;
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
  logger?: Logger;
  database?: DatabaseConnection;
  metrics?: Metrics;
  storage?: ObjectStorage;
  qualityGate?: PhotoQualityGate;
  pushNotifier?: PushNotifier;
  /** Engines added to, or replacing, the configured ones by name. */
  engines?: Record<string, GenerationEngine>;
  taskQueue?: TaskQueue;
}

export async function createContainer(config: Config, overrides: ContainerOverrides = {}): Promise<Container> {
  const closers: Array<() => Promise<void>> = [];
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? pino({ level: config.logLevel });

  const database = overrides.database ?? openDatabase(config.databaseUrl);
  closers.push(() => database.close());

  const tokens = new TokenService(config.jwt.secret, config.jwt.ttlSeconds, clock);
  const metrics = overrides.metrics ?? new Metrics();
  const packs = new PackService(new PacksRepository(database.db), clock, config.packs);
  closers.push(() => packs.publicCatalog.stopWatching());
  const users = new UserRepository(database.db);
  const appStore = createAppStore(config, logger);
  const pushNotifier = overrides.pushNotifier ?? createPushNotifier(config, logger, closers);
  const payments = new PaymentService({
    appStore,
    pushNotifier,
    users,
    tokens,
    clock,
    allowDebugPurchases: config.payments.allowDebugPurchases,
  });

  const fileLinks = new FileLinkSigner(config.jwt.secret, fileLinkBaseUrl(config), clock);
  const storage = overrides.storage ?? (await createObjectStorage(config, fileLinks, clock, closers));
  const qualityGate = overrides.qualityGate ?? createQualityGate(config);
  closers.push(() => qualityGate.close());
  const jobs = new JobService(new JobsRepository(database.db), clock);
  const photoUploads = new PhotoUploadService({
    jobs,
    photos: new PhotosRepository(database.db),
    normaliser: new PhotoNormaliser({
      maxPixels: config.uploads.maxPixels,
      maxDimension: config.uploads.photoMaxDimension,
      thumbnailDimension: THUMBNAIL_DIMENSION,
      concurrency: config.uploads.processingConcurrency,
    }),
    qualityGate,
    storage,
    clock,
    limits: config.uploads,
  });
  const uploadTemporaryDirectory = await createUploadTemporaryDirectory(config);

  const remote = createRemoteEngines(config.engines, { database, clock, logger, storage });
  for (const engine of Object.values(remote.engines)) {
    engine.startReconciler(config.engines.reconcileIntervalMs);
    closers.push(() => engine.close());
  }

  const engines = { local: createLocalEngine(config), ...remote.engines, ...overrides.engines };
  const queuedTasks = new QueuedTaskRepository(database.db);
  const redisQueue =
    config.redisQueue === undefined || overrides.taskQueue !== undefined
      ? undefined
      : createBullMqTaskQueue(config.redisQueue, config.generation, queuedTasks, () => generation.engines.names(), logger);
  if (redisQueue !== undefined) {
    closers.push(() => redisQueue.close());
  }
  const generation = createGenerationPipeline({
    config: config.generation,
    defaultEngine: config.engines.defaultEngine,
    resultUrlTtlSeconds: config.uploads.signedUrlTtlSeconds,
    database,
    users,
    jobs,
    packs,
    storage,
    pushNotifier,
    engines,
    clock,
    logger,
    queue: overrides.taskQueue ?? redisQueue,
  });
  metrics.setQueueDepthReader(
    redisQueue === undefined ? async () => ({ ...(await queuedTasks.countOpenTasks(clock.now())) }) : () => redisQueue.depth(),
  );
  const readinessChecks: Record<string, () => Promise<void>> = { database: () => database.ping(), storage: () => storage.ping() };
  if (redisQueue !== undefined) {
    readinessChecks.redis = () => redisQueue.ping();
  }

  return {
    config,
    clock,
    logger,
    database,
    tokens,
    metrics,
    packs,
    users,
    appStore,
    pushNotifier,
    payments,
    storage,
    generation,
    queuedTasks,
    redisQueue,
    fileLinks,
    qualityGate,
    jobs,
    photoUploads,
    uploadTemporaryDirectory,
    engines,
    replicateWebhooks: remote.replicate,
    readinessChecks,
    close: async () => {
      for (const close of closers.reverse()) {
        await close();
      }
    },
  };
}

/** Maximum length of a thumbnail's long side, in pixels: enough for a grid of selfies on a phone screen. */
const THUMBNAIL_DIMENSION = 384;

/**
 * Files left mid-write by a process that stopped are deleted at start-up once they are older than this.
 * Ages are compared with the wall clock, not the injected Clock, because file times are wall-clock times.
 */
const STALE_TEMPORARY_FILE_MS = 60 * 60 * 1000;

/** Builds the S3 store when STORAGE_DRIVER=s3, else the store of files under the data directory. */
async function createObjectStorage(
  config: Config,
  fileLinks: FileLinkSigner,
  clock: Clock,
  closers: Array<() => Promise<void>>,
): Promise<ObjectStorage> {
  if (config.storage.driver === 's3') {
    const storage = new S3Storage(config.storage.s3, { clock });
    closers.push(async () => storage.close());
    return storage;
  }
  return createLocalDiskStorage(config, fileLinks);
}

async function createLocalDiskStorage(config: Config, fileLinks: FileLinkSigner): Promise<LocalDiskStorage> {
  const storage = new LocalDiskStorage(path.join(config.dataDir, 'storage'), fileLinks);
  await storage.removeStaleTemporaryFiles(STALE_TEMPORARY_FILE_MS, Date.now());
  return storage;
}

async function createUploadTemporaryDirectory(config: Config): Promise<string> {
  const directory = path.join(config.dataDir, 'tmp', 'uploads');
  await mkdir(directory, { recursive: true });
  await removeFilesOlderThan(directory, STALE_TEMPORARY_FILE_MS, Date.now());
  return directory;
}

function createAppStore(config: Config, logger: Logger): AppStore | undefined {
  const { apple } = config;
  // The configuration accepts all four credentials or none of them.
  if (apple.issuerId === undefined || apple.keyId === undefined || apple.privateKey === undefined || apple.appAppleId === undefined) {
    return undefined;
  }
  return new AppleAppStore({
    bundleId: apple.bundleId,
    appAppleId: apple.appAppleId,
    issuerId: apple.issuerId,
    keyId: apple.keyId,
    privateKey: apple.privateKey,
    timeoutMs: apple.timeoutMs,
    rootCertificates: [apple.rootCertificate ?? appleRootCertificate()],
    onlineChecks: apple.onlineChecks,
    apiUrls: apple.apiUrls,
    logger,
  });
}

function createPushNotifier(config: Config, logger: Logger, closers: Array<() => Promise<void>>): PushNotifier {
  if (config.firebase.credentialsPath === undefined) {
    return new LoggingPushNotifier(logger);
  }
  const notifier = new FirebasePushNotifier({ credential: cert(config.firebase.credentialsPath), logger });
  closers.push(() => notifier.close());
  return notifier;
}

/** Builds the face-model gate, or the gate that accepts everything when QUALITY_GATE_ENABLED=false. */
export function createQualityGate(config: Config): PhotoQualityGate {
  if (!config.qualityGate.enabled) {
    return disabledQualityGate;
  }
  // The pool starts its threads on the first photo, so processes that never see an upload pay nothing.
  return new FaceQualityGate(new FaceAnalysisPool({ threads: config.qualityGate.threads }), config.qualityGate);
}
