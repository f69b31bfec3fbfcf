import type { CatalogImportResult, PacksRepository } from '../../adapters/database/repositories/packs-repository.js';
import type { Clock } from '../clock.js';
import { appError } from '../errors.js';
import type { FieldProblem } from './document-fields.js';
import { formatCatalogDocument, parseCatalogDocument } from './catalog-document.js';
import { PublicCatalogCache } from './public-catalog-cache.js';
import { reasonPackCannotRun } from './pack.js';

/** A prompt ready for an engine: the pack's own negative prompt, else the catalog's shared one, else null. */
export interface GenerationPrompt {
  prompt: string;
  negativePrompt: string | null;
}

/** A pack as the generation pipeline uses it. */
export interface PackForGeneration {
  name: string;
  displayName: string;
  isActive: boolean;
  numPrompts: number;
  numImagesPerPrompt: number;
  /** The prompts a run renders: the first `numPrompts` of the pack's prompts, in stored order. */
  promptsForRun: GenerationPrompt[];
  /** The engine to render with; null means the server's default engine. */
  engine: string | null;
  canRun: boolean;
  /** The reason the pack cannot run, for logs and error messages, or null when `canRun` is true. */
  cannotRunReason: string | null;
}

export interface CatalogImportOutcome extends CatalogImportResult {
  /** Fields that were imported but are not used by the server. */
  warnings: FieldProblem[];
}

export class PackService {
  /** The in-memory /packs-info response. */
  readonly publicCatalog: PublicCatalogCache;

  constructor(
    private readonly repository: PacksRepository,
    private readonly clock: Clock,
    options: { refreshIntervalMs: number },
  ) {
    this.publicCatalog = new PublicCatalogCache(repository, options.refreshIntervalMs);
  }

  /**
   * Looks up a pack for a generation run, straight from the database (never from the cache). Returns null
   * for an unknown pack name; an inactive or incomplete pack is returned with `canRun` false.
   */
  async findPackForGeneration(packName: string): Promise<PackForGeneration | null> {
    const pack = await this.repository.findPackByName(packName);
    if (pack === undefined) {
      return null;
    }
    const settings = await this.repository.readCatalogSettings();
    const sharedNegativePrompt = typeof settings.negative_prompt === 'string' ? settings.negative_prompt : null;
    const cannotRunReason = reasonPackCannotRun(pack);
    return {
      name: pack.name,
      displayName: pack.displayName,
      isActive: pack.isActive,
      numPrompts: pack.numPrompts,
      numImagesPerPrompt: pack.numImagesPerPrompt,
      promptsForRun: pack.prompts.slice(0, pack.numPrompts).map((prompt) => ({
        prompt: prompt.prompt,
        negativePrompt: prompt.negativePrompt ?? sharedNegativePrompt,
      })),
      engine: pack.engine,
      canRun: cannotRunReason === null,
      cannotRunReason,
    };
  }

  /**
   * Validates a catalog file (already parsed from JSON) and applies it in one transaction. Throws
   * `invalid_pack_catalog` listing every invalid field, and then changes nothing. Packs missing from the
   * file are kept unless `replace` is set, in which case they are deleted.
   */
  async importCatalog(file: unknown, options: { replace: boolean }): Promise<CatalogImportOutcome> {
    const { catalog, problems, warnings } = parseCatalogDocument(file);
    if (catalog === undefined) {
      throw appError(
        'invalid_pack_catalog',
        `The pack catalog file has ${problems.length} invalid field${problems.length === 1 ? '' : 's'}; nothing was changed.`,
        { details: problems.map(({ field, message }) => ({ field, message })) },
      );
    }
    const result = await this.repository.importCatalog(
      { settings: catalog.settings, packs: catalog.packs, removeOtherPacks: options.replace },
      this.clock.now(),
    );
    if (result.changed) {
      // Other processes notice the raised version on their next check, and this one reloads at once.
      this.publicCatalog.invalidate();
    }
    return { ...result, warnings };
  }

  /** Returns the whole catalog in the file layout that `importCatalog` reads. */
  async exportCatalog(): Promise<Record<string, unknown>> {
    const [settings, packs] = await Promise.all([this.repository.readCatalogSettings(), this.repository.listPacks()]);
    return formatCatalogDocument(settings, packs);
  }
}
