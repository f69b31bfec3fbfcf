import type { Kysely } from 'kysely';
import type { Database, JobRow } from '../schema.js';
import type { EnginePhoto } from '../../engines/generation-engine.js';

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

/** Reads the rows other areas own (jobs, photos, packs) with the narrow queries the generation pipeline needs. */
// TODO: switch to the job-ownership lookup and the packs catalog's lookup by name once those land, and
// drop the matching queries here.
export class GenerationInputsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async findJobOwnedBy(jobId: string, userId: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', jobId).where('user_id', '=', userId).executeTakeFirst();
  }

  async listJobPhotos(jobId: string): Promise<EnginePhoto[]> {
    const rows = await this.db
      .selectFrom('photos')
      .select(['id', 'storage_key', 'width', 'height', 'face_box'])
      .where('job_id', '=', jobId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map((row) => ({
      id: row.id,
      storageKey: row.storage_key,
      width: row.width,
      height: row.height,
      faceBox: row.face_box === null ? null : (JSON.parse(row.face_box) as EnginePhoto['faceBox']),
    }));
  }

  async countJobPhotos(jobId: string): Promise<number> {
    const row = await this.db
      .selectFrom('photos')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .where('job_id', '=', jobId)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /** Storage keys of a job's photos and their thumbnails. */
  async listJobPhotoKeys(jobId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('photos').select(['storage_key', 'thumbnail_key']).where('job_id', '=', jobId).execute();
    return rows.flatMap((row) => [row.storage_key, row.thumbnail_key]);
  }

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
