import type { Migration, MigrationProvider } from 'kysely';
import * as initialSchema from './0001-initial-schema.js';
import * as seedPackCatalog from './0002-seed-pack-catalog.js';

/**
 * Migrations in the order they run. They are listed in code, not found on disk, so the same list
 * works from the TypeScript sources and from the compiled `dist/`. Add new ones at the end.
 */
const MIGRATIONS: Record<string, Migration> = {
  '0001-initial-schema': initialSchema,
  '0002-seed-pack-catalog': seedPackCatalog,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
