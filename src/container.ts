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
import { PaymentService } from './domain/payments/payment-service.js';
import type { GenerationEngine } from './adapters/engines/generation-engine.js';
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
  /** Logger for work outside a request; inside a request, use `request.log`. */
  logger: Logger;
  database: DatabaseConnection;
  tokens: TokenService;
  users: UserRepository;
  /** Undefined when no App Store credentials are configured. */
  appStore: AppStore | undefined;
  /** Firebase Cloud Messaging, or a logging stand-in when GOOGLE_APPLICATION_CREDENTIALS is not set. */
  pushNotifier: PushNotifier;
  payments: PaymentService;
  storage: ObjectStorage;
  generation: GenerationPipeline;
  /** Checks that `/readyz` runs, by dependency name. */
  readinessChecks: Record<string, () => Promise<void>>;
  /** Closes every adapter in reverse order of creation. */
  close(): Promise<void>;
}

export interface ContainerOverrides {
  clock?: Clock;
  logger?: Logger;
  database?: DatabaseConnection;
  pushNotifier?: PushNotifier;
  storage?: ObjectStorage;
  engines?: GenerationEngine[];
  taskQueue?: TaskQueue;
}

export async function createContainer(config: Config, overrides: ContainerOverrides = {}): Promise<Container> {
  const closers: Array<() => Promise<void>> = [];
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? pino({ level: config.logLevel });

  const database = overrides.database ?? openDatabase(config.databaseUrl);
  closers.push(() => database.close());

  const tokens = new TokenService(config.jwt.secret, config.jwt.ttlSeconds, clock);
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
  // TODO: default to the uploads area's LocalDiskStorage and register the local engine as each lands.
  const storage = overrides.storage ?? missingStorage;
  const generation = createGenerationPipeline({
    config: config.generation,
    database,
    users,
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
    logger,
    database,
    tokens,
    users,
    appStore,
    pushNotifier,
    payments,
    storage,
    generation,
    readinessChecks: { database: () => database.ping() },
    close: async () => {
      for (const close of closers.reverse()) {
        await close();
      }
    },
  };
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
