import type { Config } from './config/config.js';
import { type DatabaseConnection, openDatabase } from './adapters/database/database.js';
import { TokenService } from './domain/auth/token-service.js';
import { type Clock, systemClock } from './domain/clock.js';
import { Metrics } from './adapters/metrics/metrics.js';

/**
 * Everything a process needs, built once from the configuration. Adapters for the outside world are
 * created here and nowhere else, so tests can swap any of them through `ContainerOverrides`.
 */
export interface Container {
  config: Config;
  clock: Clock;
  database: DatabaseConnection;
  tokens: TokenService;
  /** Prometheus metrics of this process, served at /metrics. */
  metrics: Metrics;
  /** Checks that `/readyz` runs, by dependency name. */
  readinessChecks: Record<string, () => Promise<void>>;
  /** Closes every adapter in reverse order of creation. */
  close(): Promise<void>;
}

export interface ContainerOverrides {
  clock?: Clock;
  database?: DatabaseConnection;
  metrics?: Metrics;
}

export async function createContainer(config: Config, overrides: ContainerOverrides = {}): Promise<Container> {
  const closers: Array<() => Promise<void>> = [];
  const clock = overrides.clock ?? systemClock;

  const database = overrides.database ?? openDatabase(config.databaseUrl);
  closers.push(() => database.close());

  const tokens = new TokenService(config.jwt.secret, config.jwt.ttlSeconds, clock);
  const metrics = overrides.metrics ?? new Metrics();

  return {
    config,
    clock,
    database,
    tokens,
    metrics,
    readinessChecks: { database: () => database.ping() },
    close: async () => {
      for (const close of closers.reverse()) {
        await close();
      }
    },
  };
}
