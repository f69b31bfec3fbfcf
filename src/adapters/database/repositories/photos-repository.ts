import type { Insertable, Kysely } from 'kysely';
import type { Database, PhotoRow, PhotosTable } from '../schema.js';

export type NewPhoto = Insertable<PhotosTable>;

/** An accepted photo's id, perceptual hash and face descriptor, the values the quality gate compares a new photo with. */
export type PhotoFeaturesRow = Pick<PhotoRow, 'id' | 'perceptual_hash' | 'face_descriptor'>;

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
   *
   * `checkJobPhotos` runs after that UPDATE and before the insert, with the job's photos as committed
   * then. Concurrent uploads to the job wait for this transaction, so no photo can be added between the
   * check and the insert. An error it throws rolls the transaction back and is rethrown.
   */
  async insertPhotoWithinLimit(
    photo: NewPhoto,
    maxPhotos: number,
    checkJobPhotos: (photos: PhotoFeaturesRow[]) => void = () => undefined,
  ): Promise<number | undefined> {
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
      const jobPhotos = await transaction
        .selectFrom('photos')
        .select(['id', 'perceptual_hash', 'face_descriptor'])
        .where('job_id', '=', photo.job_id)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      checkJobPhotos(jobPhotos);
      await transaction.insertInto('photos').values(photo).execute();
      return job.photo_count;
    });
  }

  /**
   * Deletes one photo of a job and lowers the job's `photo_count`, with the job's engine preparations,
   * which may have been built from the photo. Returns the deleted row, `'not_found'`, or `'job_busy'`
   * while a run of the job is queued or processing, because its renders still read those preparations.
   */
  async deletePhotoOfIdleJob(jobId: string, photoId: string, now: number): Promise<PhotoRow | 'not_found' | 'job_busy'> {
    return this.db.transaction().execute(async (transaction) => {
      // Touching the job row first locks it on PostgreSQL, so a concurrent start of a run waits for this
      // transaction; SQLite runs one writing transaction at a time.
      await transaction.updateTable('jobs').set({ updated_at: now }).where('id', '=', jobId).execute();
      const activeRun = await transaction
        .selectFrom('runs')
        .select('id')
        .where('job_id', '=', jobId)
        .where('status', 'in', ['queued', 'processing'])
        .executeTakeFirst();
      if (activeRun !== undefined) {
        return 'job_busy';
      }

      const photo = await transaction
        .deleteFrom('photos')
        .where('id', '=', photoId)
        .where('job_id', '=', jobId)
        .returningAll()
        .executeTakeFirst();
      if (photo === undefined) {
        return 'not_found';
      }
      await transaction
        .updateTable('jobs')
        .set((expression) => ({ photo_count: expression('photo_count', '-', 1) }))
        .where('id', '=', jobId)
        .execute();
      await transaction.deleteFrom('engine_preparations').where('job_id', '=', jobId).execute();
      return photo;
    });
  }
}
