import type { Config } from './config/config.js';
import { type DatabaseConnection, openDatabase } from './adapters/database/database.js';
import { TokenService } from './domain/auth/token-service.js';
import { type Clock, systemClock } from './domain/clock.js';
import { FaceAnalysisPool } from './adapters/faces/face-analysis-pool.js';
import { FaceQualityGate } from './domain/photos/face-quality-gate.js';
import { disabledQualityGate, type PhotoQualityGate } from './domain/photos/quality-gate.js';

/**
 * Everything a process needs, built once from the configuration. Adapters for the outside world are
 * created here and nowhere else, so tests can swap any of them through `ContainerOverrides`.
 */
export interface Container {
  config: Config;
  clock: Clock;
  database: DatabaseConnection;
  tokens: TokenService;
  /** Judges uploaded photos before they are stored. */
  qualityGate: PhotoQualityGate;
  /** Checks that `/readyz` runs, by dependency name. */
  readinessChecks: Record<string, () => Promise<void>>;
  /** Closes every adapter in reverse order of creation. */
  close(): Promise<void>;
}

export interface ContainerOverrides {
  clock?: Clock;
  database?: DatabaseConnection;
  qualityGate?: PhotoQualityGate;
}

export async function createContainer(config: Config, overrides: ContainerOverrides = {}): Promise<Container> {
  const closers: Array<() => Promise<void>> = [];
  const clock = overrides.clock ?? systemClock;

  const database = overrides.database ?? openDatabase(config.databaseUrl);
  closers.push(() => database.close());

  const tokens = new TokenService(config.jwt.secret, config.jwt.ttlSeconds, clock);

  const qualityGate = overrides.qualityGate ?? createQualityGate(config);
  closers.push(() => qualityGate.close());

  return {
    config,
    clock,
    database,
    tokens,
    qualityGate,
    readinessChecks: { database: () => database.ping() },
    close: async () => {
      for (const close of closers.reverse()) {
        await close();
      }
    },
  };
}

/** Builds the face-model gate, or the gate that accepts everything when QUALITY_GATE_ENABLED=false. */
function createQualityGate(config: Config): PhotoQualityGate {
  if (!config.qualityGate.enabled) {
    return disabledQualityGate;
  }
  // The pool starts its threads on the first photo, so processes that never see an upload pay nothing.
  return new FaceQualityGate(new FaceAnalysisPool({ threads: config.qualityGate.threads }), config.qualityGate);
}
