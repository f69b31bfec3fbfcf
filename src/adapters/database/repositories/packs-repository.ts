import type { Kysely, Transaction } from 'kysely';
import type { CatalogSettings, PackDefinition, PackPrompt } from '../../../domain/packs/pack.js';
import type { PublicPackFields } from '../../../domain/packs/public-catalog.js';
import type { Database, PackRow, PacksTable } from '../schema.js';

/** The one row of `catalog_settings`. */
const CATALOG_SETTINGS_ID = 1;

/** A prompt as stored in `packs.prompts`. */
interface StoredPrompt {
  prompt: string;
  negative_prompt?: string;
}

export interface CatalogImport {
  /** New shared settings, or undefined to keep the stored ones. */
  settings: CatalogSettings | undefined;
  /** Packs to add, or to replace by name. */
  packs: PackDefinition[];
  /** Whether to delete the stored packs that are not in `packs`. */
  removeOtherPacks: boolean;
}

export interface CatalogImportResult {
  added: string[];
  updated: string[];
  unchanged: string[];
  removed: string[];
  settingsChanged: boolean;
  /** Whether anything was added, updated, removed or replaced. */
  changed: boolean;
  /** The catalog version after the import. It is raised only when something changed. */
  version: number;
}

type PackColumns = Omit<PacksTable, 'created_at' | 'updated_at'>;

/**
 * Packs and the shared catalog settings. Every write raises `catalog_settings.version` in the same
 * transaction, which is how each process learns that its cached catalog is stale.
 */
export class PacksRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Returns the catalog version, or 0 when the settings row does not exist. */
  readCatalogVersion(): Promise<number> {
    return readVersion(this.db);
  }

  async readCatalogSettings(): Promise<CatalogSettings> {
    const row = await this.db
      .selectFrom('catalog_settings')
      .select('settings')
      .where('id', '=', CATALOG_SETTINGS_ID)
      .executeTakeFirst();
    return row === undefined ? {} : (JSON.parse(row.settings) as CatalogSettings);
  }

  /** Lists every pack, active or not, with only the fields /packs-info needs (prompts are not read). */
  async listPublicPackFields(): Promise<PublicPackFields[]> {
    const rows = await this.db
      .selectFrom('packs')
      .select(['name', 'display_name', 'is_active', 'featured', 'featured_thumbnail', 'thumbnail', 'secondary_thumbnail_images', 'display_order'])
      .execute();
    return rows.map((row) => ({
      name: row.name,
      displayName: row.display_name,
      isActive: row.is_active === 1,
      featured: row.featured === 1,
      featuredThumbnail: row.featured_thumbnail,
      thumbnail: JSON.parse(row.thumbnail) as string | string[],
      secondaryThumbnailImages: JSON.parse(row.secondary_thumbnail_images) as string[],
      displayOrder: row.display_order,
    }));
  }

  async listPacks(): Promise<PackDefinition[]> {
    const rows = await this.db.selectFrom('packs').selectAll().execute();
    return rows.map(packFromRow);
  }

  async findPackByName(name: string): Promise<PackDefinition | undefined> {
    const row = await this.db.selectFrom('packs').selectAll().where('name', '=', name).executeTakeFirst();
    return row === undefined ? undefined : packFromRow(row);
  }

  /**
   * Applies an import in one transaction: all of it or, on any error, none of it. Packs whose stored
   * columns already equal the imported ones are left alone, and the version is raised only if something
   * changed.
   */
  async importCatalog(change: CatalogImport, now: number): Promise<CatalogImportResult> {
    return this.db.transaction().execute(async (transaction) => {
      const existing = new Map((await transaction.selectFrom('packs').selectAll().execute()).map((row) => [row.name, row]));
      const result: CatalogImportResult = {
        added: [],
        updated: [],
        unchanged: [],
        removed: [],
        settingsChanged: false,
        changed: false,
        version: 0,
      };

      for (const pack of change.packs) {
        const columns = columnsFromPack(pack);
        const stored = existing.get(pack.name);
        if (stored === undefined) {
          await transaction.insertInto('packs').values({ ...columns, created_at: now, updated_at: now }).execute();
          result.added.push(pack.name);
        } else if (columnsDiffer(stored, columns)) {
          await transaction.updateTable('packs').set({ ...columns, updated_at: now }).where('name', '=', pack.name).execute();
          result.updated.push(pack.name);
        } else {
          result.unchanged.push(pack.name);
        }
      }

      if (change.removeOtherPacks) {
        const imported = new Set(change.packs.map((pack) => pack.name));
        result.removed = [...existing.keys()].filter((name) => !imported.has(name));
        if (result.removed.length > 0) {
          await transaction.deleteFrom('packs').where('name', 'in', result.removed).execute();
        }
      }

      result.settingsChanged = await writeSettingsIfChanged(transaction, change.settings, now);
      result.changed = result.added.length + result.updated.length + result.removed.length > 0 || result.settingsChanged;
      result.version = result.changed ? await raiseCatalogVersion(transaction, now) : await readVersion(transaction);
      return result;
    });
  }
}

async function readVersion(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('catalog_settings')
    .select('version')
    .where('id', '=', CATALOG_SETTINGS_ID)
    .executeTakeFirst();
  return row === undefined ? 0 : Number(row.version);
}

/** Writes the settings when they differ from the stored ones. Returns whether they did. */
async function writeSettingsIfChanged(transaction: Transaction<Database>, settings: CatalogSettings | undefined, now: number): Promise<boolean> {
  if (settings === undefined) {
    return false;
  }
  const text = JSON.stringify(settings);
  const stored = await transaction
    .selectFrom('catalog_settings')
    .select('settings')
    .where('id', '=', CATALOG_SETTINGS_ID)
    .executeTakeFirst();
  if (stored?.settings === text) {
    return false;
  }
  await transaction
    .insertInto('catalog_settings')
    .values({ id: CATALOG_SETTINGS_ID, settings: text, version: 0, updated_at: now })
    .onConflict((conflict) => conflict.column('id').doUpdateSet({ settings: text, updated_at: now }))
    .execute();
  return true;
}

/** Raises the catalog version by one, creating the settings row if it is missing, and returns the new version. */
async function raiseCatalogVersion(transaction: Transaction<Database>, now: number): Promise<number> {
  await transaction
    .insertInto('catalog_settings')
    .values({ id: CATALOG_SETTINGS_ID, settings: '{}', version: 1, updated_at: now })
    .onConflict((conflict) =>
      conflict.column('id').doUpdateSet((update) => ({
        version: update(update.ref('catalog_settings.version'), '+', 1),
        updated_at: now,
      })),
    )
    .execute();
  return readVersion(transaction);
}

function columnsFromPack(pack: PackDefinition): PackColumns {
  const prompts: StoredPrompt[] = pack.prompts.map((prompt) =>
    prompt.negativePrompt === undefined ? { prompt: prompt.prompt } : { prompt: prompt.prompt, negative_prompt: prompt.negativePrompt },
  );
  return {
    name: pack.name,
    display_name: pack.displayName,
    is_active: pack.isActive ? 1 : 0,
    featured: pack.featured ? 1 : 0,
    featured_thumbnail: pack.featuredThumbnail,
    num_images_per_prompt: pack.numImagesPerPrompt,
    num_prompts: pack.numPrompts,
    secondary_thumbnail_images: JSON.stringify(pack.secondaryThumbnailImages),
    thumbnail: JSON.stringify(pack.thumbnail),
    prompts: JSON.stringify(prompts),
    display_order: pack.displayOrder,
    engine: pack.engine,
    extra: JSON.stringify(pack.extra),
  };
}

function columnsDiffer(stored: PackRow, columns: PackColumns): boolean {
  return (Object.keys(columns) as Array<keyof PackColumns>).some((key) => stored[key] !== columns[key]);
}

function packFromRow(row: PackRow): PackDefinition {
  const prompts = (JSON.parse(row.prompts) as StoredPrompt[]).map(
    (stored): PackPrompt => (stored.negative_prompt === undefined ? { prompt: stored.prompt } : { prompt: stored.prompt, negativePrompt: stored.negative_prompt }),
  );
  return {
    name: row.name,
    displayName: row.display_name,
    isActive: row.is_active === 1,
    featured: row.featured === 1,
    featuredThumbnail: row.featured_thumbnail,
    numImagesPerPrompt: row.num_images_per_prompt,
    numPrompts: row.num_prompts,
    secondaryThumbnailImages: JSON.parse(row.secondary_thumbnail_images) as string[],
    thumbnail: JSON.parse(row.thumbnail) as string | string[],
    prompts,
    displayOrder: row.display_order,
    engine: row.engine,
    extra: JSON.parse(row.extra) as Record<string, unknown>,
  };
}
