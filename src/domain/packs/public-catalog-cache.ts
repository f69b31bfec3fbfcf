import type { PacksRepository } from '../../adapters/database/repositories/packs-repository.js';
import { type PublicCatalog, buildPublicCatalog } from './public-catalog.js';

/** The two log levels the cache writes at; Fastify's and pino's loggers fit. */
export interface CatalogLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** How many failed checks in a row are counted before the next one is logged again. */
const FAILED_CHECKS_PER_LOG_LINE = 60;

/**
 * Keeps the serialized /packs-info response in memory. Requests read it without touching the database.
 * Every catalog change raises `catalog_settings.version`, and a timer in each process compares that
 * version with the cached one every `refreshIntervalMs`, reloading on a difference. A change made by any
 * process or host sharing the database is therefore served within one interval plus one reload.
 */
export class PublicCatalogCache {
  private snapshot: PublicCatalog | undefined;
  private loading: Promise<PublicCatalog> | undefined;
  /** Raised by every invalidation, so a load that started before it cannot store its older result. */
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The version check in progress, if any. */
  private runningCheck: Promise<void> | undefined;
  private failedChecks = 0;

  constructor(
    private readonly repository: PacksRepository,
    private readonly refreshIntervalMs: number,
  ) {}

  /** The cached catalog, or undefined before the first load and after an invalidation. */
  get current(): PublicCatalog | undefined {
    return this.snapshot;
  }

  /** Returns the cached catalog, loading it first when there is none. Concurrent callers share one load. */
  get(): Promise<PublicCatalog> {
    return this.snapshot === undefined ? this.load() : Promise.resolve(this.snapshot);
  }

  /** Drops the cached catalog, so the next request loads it again. */
  invalidate(): void {
    this.generation += 1;
    this.snapshot = undefined;
    this.loading = undefined;
  }

  /**
   * Reads the stored version and reloads the catalog when it differs from the cached one. Requests keep
   * getting the previous catalog until the reload has finished. Returns whether it reloaded.
   */
  async refreshIfChanged(): Promise<boolean> {
    const cached = this.snapshot;
    if (cached === undefined) {
      return false;
    }
    const version = await this.repository.readCatalogVersion();
    if (version === cached.version) {
      return false;
    }
    this.generation += 1;
    this.loading = undefined;
    await this.load();
    return true;
  }

  /** Starts the version check timer. The timer does not keep the process alive. */
  startWatching(logger: CatalogLogger): void {
    if (this.timer !== undefined) {
      return;
    }
    this.timer = setInterval(() => {
      // A check slower than the interval (a stalled database) must not pile up more checks behind it.
      if (this.runningCheck === undefined) {
        this.runningCheck = this.checkForChanges(logger).finally(() => {
          this.runningCheck = undefined;
        });
      }
    }, this.refreshIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a check in progress, so no query runs once the database closes. */
  async stopWatching(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.runningCheck;
  }

  private load(): Promise<PublicCatalog> {
    if (this.loading !== undefined) {
      return this.loading;
    }
    const generation = this.generation;
    const loading = (async () => {
      // The version is read before the packs. If a change lands between the two reads, the cache stores
      // newer packs under an older version, and the next check reloads once more. The other order could
      // store old packs under the new version and never reload.
      const version = await this.repository.readCatalogVersion();
      const catalog = buildPublicCatalog(await this.repository.listPublicPackFields(), version);
      if (generation === this.generation) {
        this.snapshot = catalog;
      }
      return catalog;
    })();
    this.loading = loading;
    const forget = () => {
      if (this.loading === loading) {
        this.loading = undefined;
      }
    };
    loading.then(forget, forget);
    return loading;
  }

  private async checkForChanges(logger: CatalogLogger): Promise<void> {
    try {
      const previousVersion = this.snapshot?.version;
      if (await this.refreshIfChanged()) {
        logger.info({ previousVersion, version: this.snapshot?.version }, 'pack catalog changed, reloaded it');
      }
      if (this.failedChecks > 0) {
        logger.info({ failedChecks: this.failedChecks }, 'pack catalog check succeeded again');
        this.failedChecks = 0;
      }
    } catch (error) {
      this.failedChecks += 1;
      if (this.failedChecks % FAILED_CHECKS_PER_LOG_LINE === 1) {
        logger.warn({ err: error, failedChecks: this.failedChecks }, 'pack catalog check failed, serving the cached catalog');
      }
    }
  }
}
