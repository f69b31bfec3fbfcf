import type { Kysely } from 'kysely';
import type { Database, JobRow } from '../schema.js';

export class JobsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insertJob(job: { id: string; userId: string; now: number }): Promise<void> {
    await this.db
      .insertInto('jobs')
      .values({ id: job.id, user_id: job.userId, photo_count: 0, created_at: job.now, updated_at: job.now })
      .execute();
  }

  /** Finds the job with this id if `userId` opened it. Returns undefined for other users' jobs and unknown ids. */
  async findJobOfUser(jobId: string, userId: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', jobId).where('user_id', '=', userId).executeTakeFirst();
  }
}
