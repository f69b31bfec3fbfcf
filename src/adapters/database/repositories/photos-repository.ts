import type { Insertable, Kysely } from 'kysely';
import type { Database, PhotoRow, PhotosTable } from '../schema.js';

export type NewPhoto = Insertable<PhotosTable>;

export class PhotosRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Lists the job's photos in upload order. */
  async listPhotosOfJob(jobId: string): Promise<PhotoRow[]> {
    return this.db.selectFrom('photos').selectAll().where('job_id', '=', jobId).orderBy('created_at').orderBy('id').execute();
  }

  /**
   * Adds the photo and raises its job's `photo_count` in one transaction, unless the job already contains
   * `maxPhotos` photos. Returns the new count, or undefined when the job is full.
   *
   * The count is raised by a conditional UPDATE, so the database settles concurrent uploads: on
   * PostgreSQL the second UPDATE waits for the first one's row lock and then re-checks the condition, and
   * SQLite runs one writing transaction at a time.
   */
  async insertPhotoWithinLimit(photo: NewPhoto, maxPhotos: number): Promise<number | undefined> {
    return this.db.transaction().execute(async (transaction) => {
      const job = await transaction
        .updateTable('jobs')
        .set((expression) => ({ photo_count: expression('photo_count', '+', 1), updated_at: photo.created_at }))
        .where('id', '=', photo.job_id)
        .where('photo_count', '<', maxPhotos)
        .returning('photo_count')
        .executeTakeFirst();
      if (job === undefined) {
        return undefined;
      }
      await transaction.insertInto('photos').values(photo).execute();
      return job.photo_count;
    });
  }
}
