import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { SEED_NEGATIVE_PROMPT, SEED_PACKS } from './pack-catalog-seed.js';

// Seeds the shared settings row and the twelve example packs, all active. Version 1 marks the seeded
// catalog; every later change raises it. The seed writes rows directly, not through the import code, so
// later changes to the import cannot change what this migration did.

export async function up(untypedDb: Kysely<unknown>): Promise<void> {
  const db = untypedDb as Kysely<Database>;
  const now = Date.now();

  await db
    .insertInto('catalog_settings')
    .values({ id: 1, settings: JSON.stringify({ negative_prompt: SEED_NEGATIVE_PROMPT }), version: 1, updated_at: now })
    .execute();

  await db
    .insertInto('packs')
    .values(
      SEED_PACKS.map((pack, index) => ({
        name: pack.name,
        display_name: pack.displayName,
        is_active: 1 as const,
        featured: pack.featuredThumbnail === undefined ? (0 as const) : (1 as const),
        featured_thumbnail: pack.featuredThumbnail ?? null,
        num_images_per_prompt: pack.numImagesPerPrompt,
        num_prompts: pack.prompts.length,
        secondary_thumbnail_images: JSON.stringify(pack.thumbnailImages),
        thumbnail: JSON.stringify(pack.thumbnail),
        prompts: JSON.stringify(pack.prompts.map((prompt) => ({ prompt }))),
        display_order: (index + 1) * 10,
        engine: null,
        extra: '{}',
        created_at: now,
        updated_at: now,
      })),
    )
    .execute();
}

export async function down(untypedDb: Kysely<unknown>): Promise<void> {
  const db = untypedDb as Kysely<Database>;
  await db
    .deleteFrom('packs')
    .where(
      'name',
      'in',
      SEED_PACKS.map((pack) => pack.name),
    )
    .execute();
  await db.deleteFrom('catalog_settings').where('id', '=', 1).execute();
}
