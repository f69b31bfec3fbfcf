import cluster from 'node:cluster';
import pino from 'pino';
import type { Config } from '../config/config.js';
import { openDatabase, migrateToLatest, databaseDialectOf } from '../adapters/database/database.js';
import { serveClusterMetrics } from '../adapters/metrics/cluster-metrics.js';
import { type ContainerOverrides, createContainer } from '../container.js';
import { buildApp, packageVersion } from '../http/app.js';
import { startMetricsServer } from './metrics-server.js';
import { onShutdownSignal } from './shutdown.js';
import { type RunningWorkers, drainTimeoutMs, startWorkers } from './workers.js';

export interface ServeOptions {
  /** Also run generation workers in each API process (`envision start`). */
  workers: boolean;
}

/** Applies pending migrations on a short-lived connection. */
export async function runMigrations(config: Config): Promise<string[]> {
  const connection = openDatabase(config.databaseUrl, { maxConnections: 1 });
  try {
    return await migrateToLatest(connection.db);
  } finally {
    await connection.close();
  }
}

/**
 * Serves the API. With WEB_CONCURRENCY above 1 the primary process migrates the database once, then forks
 * that many API processes that share the port through node:cluster, as gunicorn's workers did.
 */
export async function serveApi(config: Config, options: ServeOptions = { workers: false }): Promise<void> {
  const logger = pino({ level: config.logLevel });

  if (config.webConcurrency > 1 && cluster.isPrimary) {
    await runMigrations(config);
    logger.info({ processes: config.webConcurrency }, 'starting API processes');
    serveClusterMetrics(logger);
    for (let index = 0; index < config.webConcurrency; index += 1) {
      cluster.fork();
    }
    cluster.on('exit', (worker, code, signal) => {
      if (!stoppingCluster) {
        logger.error({ pid: worker.process.pid, code, signal }, 'API process exited; starting a new one');
        cluster.fork();
      }
    });
    let stoppingCluster = false;
    onShutdownSignal(logger, config.shutdownTimeoutMs, async () => {
      stoppingCluster = true;
      await Promise.all(
        Object.values(cluster.workers ?? {}).map(
          (worker) =>
            new Promise<void>((resolve) => {
              worker?.once('exit', () => resolve());
              worker?.process.kill('SIGTERM');
            }),
        ),
      );
    });
    return;
  }

  if (cluster.isPrimary) {
    await runMigrations(config);
  }
  const container = await createContainer(config);
  const app = await buildApp(container);
  const address = await app.listen({ host: config.host, port: config.port });
  app.log.info(
    {
      address,
      mode: config.mode,
      database: databaseDialectOf(config.databaseUrl),
      version: packageVersion,
      node: process.version,
    },
    'Envision API listening',
  );
  const workers: RunningWorkers | undefined = options.workers ? startWorkers(container) : undefined;

  onShutdownSignal(app.log, config.shutdownTimeoutMs, async () => {
    // close() stops accepting connections and waits for in-flight requests before resolving.
    await app.close();
    await workers?.stop(drainTimeoutMs(config.shutdownTimeoutMs));
    await container.close();
  });
}

/** Runs generation workers without the API (`envision worker`). Tests pass fakes in `overrides`. */
export async function serveWorkers(config: Config, overrides: ContainerOverrides = {}): Promise<void> {
  await runMigrations(config);
  const container = await createContainer(config, overrides);
  container.logger.info(
    { mode: config.mode, database: databaseDialectOf(config.databaseUrl), version: packageVersion, node: process.version },
    'Envision worker starting',
  );
  const workers = startWorkers(container);
  const { workerMetricsPort, metricsToken } = config.operations;
  const metricsServer =
    workerMetricsPort === undefined
      ? undefined
      : await startMetricsServer(container.metrics, { host: config.host, port: workerMetricsPort, token: metricsToken, logger: container.logger });

  onShutdownSignal(container.logger, config.shutdownTimeoutMs, async () => {
    await metricsServer?.close();
    await workers.stop(drainTimeoutMs(config.shutdownTimeoutMs));
    await container.close();
  });
}
