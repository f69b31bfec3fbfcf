import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** What starting a run needs to know about a pack. */
export interface GenerationPack {
  name: string;
  displayName: string;
  isActive: boolean;
  numPrompts: number;
  numImagesPerPrompt: number;
  prompts: Array<{ prompt: string; negative_prompt?: string | null }>;
  engine: string | null;
}

/** Reads the packs catalog with the narrow queries the generation pipeline needs. */
// TODO: switch to the packs catalog's lookup by name once it lands, and drop this repository.
export class GenerationInputsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async findPackForGeneration(name: string): Promise<GenerationPack | undefined> {
    const row = await this.db
      .selectFrom('packs')
      .select(['name', 'display_name', 'is_active', 'num_prompts', 'num_images_per_prompt', 'prompts', 'engine'])
      .where('name', '=', name)
      .executeTakeFirst();
    if (row === undefined) {
      return undefined;
    }
    return {
      name: row.name,
      displayName: row.display_name,
      isActive: row.is_active === 1,
      numPrompts: row.num_prompts,
      numImagesPerPrompt: row.num_images_per_prompt,
      prompts: JSON.parse(row.prompts) as GenerationPack['prompts'],
      engine: row.engine,
    };
  }

  async findPackDisplayName(name: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('packs').select('display_name').where('name', '=', name).executeTakeFirst();
    return row?.display_name;
  }
}
