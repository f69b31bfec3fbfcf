import type { Config } from './config/config.js';
import { type DatabaseConnection, openDatabase } from './adapters/database/database.js';
import { TokenService } from './domain/auth/token-service.js';
import { type Clock, systemClock } from './domain/clock.js';
import { PacksRepository } from './adapters/database/repositories/packs-repository.js';
import { PackService } from './domain/packs/pack-service.js';

/**
 * Everything a process needs, built once from the configuration. Adapters for the outside world are
 * created here and nowhere else, so tests can swap any of them through `ContainerOverrides`.
 */
export interface Container {
  config: Config;
  clock: Clock;
  database: DatabaseConnection;
  tokens: TokenService;
  packs: PackService;
  /** Checks that `/readyz` runs, by dependency name. */
  readinessChecks: Record<string, () => Promise<void>>;
  /** Closes every adapter in reverse order of creation. */
  close(): Promise<void>;
}

export interface ContainerOverrides {
  clock?: Clock;
  database?: DatabaseConnection;
}

export async function createContainer(config: Config, overrides: ContainerOverrides = {}): Promise<Container> {
  const closers: Array<() => Promise<void>> = [];
  const clock = overrides.clock ?? systemClock;

  const database = overrides.database ?? openDatabase(config.databaseUrl);
  closers.push(() => database.close());

  const tokens = new TokenService(config.jwt.secret, config.jwt.ttlSeconds, clock);
  const packs = new PackService(new PacksRepository(database.db), clock, config.packs);
  closers.push(() => packs.publicCatalog.stopWatching());

  return {
    config,
    clock,
    database,
    tokens,
    packs,
    readinessChecks: { database: () => database.ping() },
    close: async () => {
      for (const close of closers.reverse()) {
        await close();
      }
    },
  };
}
