import type { Kysely, Transaction } from 'kysely';
import type { Database, GeneratedImageRow, JobRow, RunRow } from '../schema.js';

export type NewRun = Omit<RunRow, 'completed_images' | 'failed_reason' | 'started_at' | 'finished_at' | 'notified_at' | 'status'>;

export interface NewTask {
  id: string;
  promptIndex: number;
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  imageCount: number;
}

/** A task with the run it belongs to, as a worker needs it. */
export interface TaskWork {
  taskId: string;
  runId: string;
  jobId: string;
  userId: string;
  packName: string;
  engine: string;
  promptIndex: number;
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  imageCount: number;
  status: string;
}

export interface StoredImage {
  imageIndex: number;
  storageKey: string;
  contentType: string;
  width: number;
  height: number;
  bytes: number;
}

export type ImageWithPack = GeneratedImageRow & { pack_name: string };

/** Result of recording a task's outcome. `finished` is the run's row when this outcome ended the run. */
export type TaskOutcome =
  | { recorded: true; finished: RunRow | undefined }
  | { recorded: false; why: 'task_deleted' | 'task_failed' };

const ACTIVE_RUN_STATUSES = ['queued', 'processing'];

/** Runs, their generation tasks and the images they produce. */
export class GenerationRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async findRun(jobId: string, packName: string): Promise<RunRow | undefined> {
    return this.db.selectFrom('runs').selectAll().where('job_id', '=', jobId).where('pack_name', '=', packName).executeTakeFirst();
  }

  /**
   * Records a run and its tasks in one transaction. When the job already has a run of this pack (a
   * repeated or concurrent request), nothing is written and that run is returned with `created: false`.
   */
  async createRunWithTasks(run: NewRun, tasks: NewTask[], maxAttempts: number): Promise<{ run: RunRow; created: boolean }> {
    return this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('runs')
        .values({ ...run, status: 'queued', completed_images: 0, failed_reason: null, started_at: null, finished_at: null, notified_at: null })
        .onConflict((conflict) => conflict.columns(['job_id', 'pack_name']).doNothing())
        .returningAll()
        .executeTakeFirst();
      if (inserted === undefined) {
        const existing = await trx
          .selectFrom('runs')
          .selectAll()
          .where('job_id', '=', run.job_id)
          .where('pack_name', '=', run.pack_name)
          .executeTakeFirstOrThrow();
        return { run: existing, created: false };
      }

      await trx
        .insertInto('generation_tasks')
        .values(
          tasks.map((task) => ({
            id: task.id,
            run_id: run.id,
            prompt_index: task.promptIndex,
            prompt: task.prompt,
            negative_prompt: task.negativePrompt,
            seed: task.seed,
            image_count: task.imageCount,
            status: 'pending',
            attempts: 0,
            max_attempts: maxAttempts,
            lease_owner: null,
            lease_expires_at: null,
            available_at: run.created_at,
            last_error: null,
            provider_id: null,
            started_at: null,
            finished_at: null,
            created_at: run.created_at,
            updated_at: run.created_at,
          })),
        )
        .execute();
      return { run: inserted, created: true };
    });
  }

  async listRunsOfJob(jobId: string): Promise<RunRow[]> {
    return this.db.selectFrom('runs').selectAll().where('job_id', '=', jobId).orderBy('created_at').orderBy('id').execute();
  }

  /** Lists a user's jobs, newest first, from after `cursor` (the last job of the previous page). */
  async listJobsOfUser(userId: string, limit: number, cursor: { createdAt: number; id: string } | undefined): Promise<JobRow[]> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('user_id', '=', userId)
      .$if(cursor !== undefined, (query) =>
        query.where((eb) =>
          eb.or([
            eb('created_at', '<', cursor!.createdAt),
            eb.and([eb('created_at', '=', cursor!.createdAt), eb('id', '<', cursor!.id)]),
          ]),
        ),
      )
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }

  async listRunsOfJobs(jobIds: string[]): Promise<RunRow[]> {
    if (jobIds.length === 0) {
      return [];
    }
    return this.db.selectFrom('runs').selectAll().where('job_id', 'in', jobIds).orderBy('created_at').orderBy('id').execute();
  }

  async listImagesOfJob(jobId: string): Promise<ImageWithPack[]> {
    return this.db
      .selectFrom('generated_images')
      .innerJoin('runs', 'runs.id', 'generated_images.run_id')
      .selectAll('generated_images')
      .select('runs.pack_name')
      .where('runs.job_id', '=', jobId)
      .orderBy('runs.created_at')
      .orderBy('generated_images.prompt_index')
      .orderBy('generated_images.image_index')
      .execute();
  }

  async findTaskWork(taskId: string): Promise<TaskWork | undefined> {
    const row = await this.db
      .selectFrom('generation_tasks')
      .innerJoin('runs', 'runs.id', 'generation_tasks.run_id')
      .select([
        'generation_tasks.id as taskId',
        'generation_tasks.run_id as runId',
        'runs.job_id as jobId',
        'runs.user_id as userId',
        'runs.pack_name as packName',
        'runs.engine as engine',
        'generation_tasks.prompt_index as promptIndex',
        'generation_tasks.prompt as prompt',
        'generation_tasks.negative_prompt as negativePrompt',
        'generation_tasks.seed as seed',
        'generation_tasks.image_count as imageCount',
        'generation_tasks.status as status',
      ])
      .where('generation_tasks.id', '=', taskId)
      .executeTakeFirst();
    return row;
  }

  async markRunProcessing(runId: string, now: number): Promise<void> {
    await this.db
      .updateTable('runs')
      .set({ status: 'processing', started_at: now, updated_at: now })
      .where('id', '=', runId)
      .where('status', '=', 'queued')
      .execute();
  }

  async findEnginePreparation(jobId: string, engine: string): Promise<unknown> {
    const row = await this.db
      .selectFrom('engine_preparations')
      .select('data')
      .where('job_id', '=', jobId)
      .where('engine', '=', engine)
      .executeTakeFirst();
    return row === undefined ? undefined : (JSON.parse(row.data) as unknown);
  }

  /** Stores a preparation unless another worker stored one first; returns the one that is kept. */
  async saveEnginePreparation(jobId: string, engine: string, data: unknown, now: number): Promise<unknown> {
    await this.db
      .insertInto('engine_preparations')
      .values({ job_id: jobId, engine, data: JSON.stringify(data ?? null), created_at: now })
      .onConflict((conflict) => conflict.columns(['job_id', 'engine']).doNothing())
      .execute();
    return this.findEnginePreparation(jobId, engine);
  }

  /**
   * Records a task's images and marks it succeeded, then updates its run's progress and, when this was
   * the run's last open task, its final status. Images are upserted by (run, prompt, image), so a task
   * that runs twice leaves one row per image.
   */
  async recordTaskSuccess(taskId: string, runId: string, images: StoredImage[], now: number): Promise<TaskOutcome> {
    return this.db.transaction().execute(async (trx) => {
      if (!(await lockRun(trx, runId, now))) {
        return { recorded: false, why: 'task_deleted' };
      }
      const task = await trx.selectFrom('generation_tasks').select(['status', 'prompt_index']).where('id', '=', taskId).executeTakeFirst();
      if (task === undefined) {
        return { recorded: false, why: 'task_deleted' };
      }
      if (task.status === 'failed') {
        return { recorded: false, why: 'task_failed' };
      }

      for (const image of images) {
        await trx
          .insertInto('generated_images')
          .values({
            id: `${taskId}-${image.imageIndex}`,
            run_id: runId,
            task_id: taskId,
            prompt_index: task.prompt_index,
            image_index: image.imageIndex,
            storage_key: image.storageKey,
            content_type: image.contentType,
            width: image.width,
            height: image.height,
            bytes: image.bytes,
            created_at: now,
          })
          .onConflict((conflict) =>
            conflict.columns(['run_id', 'prompt_index', 'image_index']).doUpdateSet({
              storage_key: image.storageKey,
              content_type: image.contentType,
              width: image.width,
              height: image.height,
              bytes: image.bytes,
            }),
          )
          .execute();
      }
      await trx
        .updateTable('generation_tasks')
        .set({ status: 'succeeded', lease_owner: null, lease_expires_at: null, finished_at: now, updated_at: now })
        .where('id', '=', taskId)
        .execute();

      return { recorded: true, finished: await settleRun(trx, runId, now) };
    });
  }

  /** Marks a task failed for good with a reason a person can read, and settles its run like a success does. */
  async recordTaskFailure(taskId: string, runId: string, reason: string, now: number): Promise<TaskOutcome> {
    return this.db.transaction().execute(async (trx) => {
      if (!(await lockRun(trx, runId, now))) {
        return { recorded: false, why: 'task_deleted' };
      }
      const updated = await trx
        .updateTable('generation_tasks')
        .set({ status: 'failed', last_error: reason, lease_owner: null, lease_expires_at: null, finished_at: now, updated_at: now })
        .where('id', '=', taskId)
        .where('status', 'in', ['pending', 'running'])
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) {
        return { recorded: false, why: 'task_deleted' };
      }
      return { recorded: true, finished: await settleRun(trx, runId, now) };
    });
  }

  /** Finished runs whose push is still due, oldest first. */
  async listRunsAwaitingNotification(limit: number): Promise<RunRow[]> {
    return this.db
      .selectFrom('runs')
      .selectAll()
      .where('status', 'not in', ACTIVE_RUN_STATUSES)
      .where('notified_at', 'is', null)
      .orderBy('finished_at')
      .limit(limit)
      .execute();
  }

  /** Marks a run notified; true only for the one caller that marked it, so a push goes out once. */
  async claimRunNotification(runId: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('runs')
      .set({ notified_at: now })
      .where('id', '=', runId)
      .where('notified_at', 'is', null)
      .where('status', 'not in', ACTIVE_RUN_STATUSES)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Deletes a job with its photos, runs, tasks, images and preparations (by cascade); returns its run ids. */
  async deleteJob(jobId: string): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      const runs = await trx.selectFrom('runs').select('id').where('job_id', '=', jobId).execute();
      await trx.deleteFrom('jobs').where('id', '=', jobId).execute();
      return runs.map((run) => run.id);
    });
  }
}

/**
 * Takes the run's row lock with a write, so the outcomes of one run's tasks are recorded one after
 * another: on PostgreSQL two concurrent transactions could otherwise each see the other's task still
 * open and neither would settle the run. On SQLite the write takes the database's write lock first, so
 * the transaction never has to upgrade a read lock. False when the run is gone.
 */
async function lockRun(trx: Transaction<Database>, runId: string, now: number): Promise<boolean> {
  const result = await trx.updateTable('runs').set({ updated_at: now }).where('id', '=', runId).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Updates a run's progress; when no task is open any more, sets its final status and returns the run. */
async function settleRun(trx: Transaction<Database>, runId: string, now: number): Promise<RunRow | undefined> {
  const tasks = await trx.selectFrom('generation_tasks').select(['status', 'last_error']).where('run_id', '=', runId).orderBy('prompt_index').execute();
  const imageCount = await trx
    .selectFrom('generated_images')
    .select((eb) => eb.fn.countAll<number | string>().as('count'))
    .where('run_id', '=', runId)
    .executeTakeFirstOrThrow();
  const completedImages = Number(imageCount.count);
  const open = tasks.filter((task) => task.status === 'pending' || task.status === 'running').length;

  if (open > 0) {
    await trx
      .updateTable('runs')
      .set({ completed_images: completedImages, status: 'processing', updated_at: now })
      .where('id', '=', runId)
      .where('status', 'in', ACTIVE_RUN_STATUSES)
      .execute();
    return undefined;
  }

  const failed = tasks.filter((task) => task.status === 'failed');
  const firstReason = failed[0]?.last_error ?? 'The image generator failed.';
  let status = 'completed';
  let reason: string | null = null;
  if (failed.length > 0 && completedImages === 0) {
    status = 'failed';
    reason = `No images could be made. ${firstReason}`;
  } else if (failed.length > 0) {
    status = 'partial';
    reason = `${failed.length} of ${tasks.length} prompts could not be rendered. ${firstReason}`;
  }

  return trx
    .updateTable('runs')
    .set({ status, completed_images: completedImages, failed_reason: reason, finished_at: now, updated_at: now })
    .where('id', '=', runId)
    .where('status', 'in', ACTIVE_RUN_STATUSES)
    .returningAll()
    .executeTakeFirst();
}
