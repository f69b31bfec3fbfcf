import { randomUUID } from 'node:crypto';
import type { JobsRepository } from '../../adapters/database/repositories/jobs-repository.js';
import type { Clock } from '../clock.js';
import { appError } from '../errors.js';

/** A job: the set of selfies one user uploads for generation. */
export interface Job {
  id: string;
  userId: string;
  photoCount: number;
  createdAt: number;
}

// Job ids are UUIDs; longer input cannot name a job, so it is not worth a query.
const MAX_JOB_ID_LENGTH = 64;

/** Opens jobs and finds them for their owners. Other users never learn that someone else's job exists. */
export class JobService {
  constructor(
    private readonly jobs: JobsRepository,
    private readonly clock: Clock,
  ) {}

  /** Opens an empty job for `userId`. Its id is a random UUID (122 random bits), so it cannot be guessed. */
  async openJob(userId: string): Promise<Job> {
    const now = this.clock.now();
    const id = randomUUID();
    await this.jobs.insertJob({ id, userId, now });
    return { id, userId, photoCount: 0, createdAt: now };
  }

  /**
   * Returns the job `jobId` when `userId` opened it. Throws `job_not_found` (404) for unknown ids and for
   * other users' jobs alike.
   */
  async getOwnedJob(userId: string, jobId: string): Promise<Job> {
    const row = jobId.length <= MAX_JOB_ID_LENGTH ? await this.jobs.findJobOfUser(jobId, userId) : undefined;
    if (row === undefined) {
      throw appError('job_not_found', `No job with jobId "${jobId.slice(0, MAX_JOB_ID_LENGTH)}" belongs to you. Open one with GET /initalize-job.`, {
        details: [{ field: 'jobId', message: 'no such job for this user' }],
      });
    }
    return { id: row.id, userId: row.user_id, photoCount: row.photo_count, createdAt: row.created_at };
  }
}
