import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** A generation task as a queue needs it: where to route it and how often to try it. */
export interface QueuedTask {
  taskId: string;
  runId: string;
  engine: string;
  maxAttempts: number;
}

/** Number of open generation tasks by the embedded queue's states. */
export interface OpenTaskCounts {
  /** Pending tasks that are due. */
  waiting: number;
  /** Pending tasks waiting for a retry's delay to pass. */
  delayed: number;
  /** Tasks a worker holds. */
  active: number;
}

const OPEN_STATUSES = ['pending', 'running'];

/**
 * Reads of `generation_tasks` that queues need beside the claim queries: routing tasks to engines,
 * finding open tasks to recover after a crash, and counting the queue. The database is the record of a
 * task's state, so these queries recover what the queue itself may have lost.
 */
export class QueuedTaskRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Finds the tasks with these ids, with their run's engine; ids that do not exist are left out. */
  async findQueuedTasks(taskIds: string[]): Promise<QueuedTask[]> {
    if (taskIds.length === 0) {
      return [];
    }
    return this.selectQueuedTasks().where('generation_tasks.id', 'in', taskIds).execute();
  }

  /** Lists up to `limit` tasks that are neither finished nor failed, oldest first. */
  async listOpenTasks(limit: number): Promise<QueuedTask[]> {
    return this.selectQueuedTasks()
      .where('generation_tasks.status', 'in', OPEN_STATUSES)
      .orderBy('generation_tasks.created_at')
      .orderBy('generation_tasks.id')
      .limit(limit)
      .execute();
  }

  /** True while the task exists and has neither succeeded nor failed for good. */
  async isTaskOpen(taskId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('generation_tasks')
      .select('status')
      .where('id', '=', taskId)
      .executeTakeFirst();
    return row !== undefined && OPEN_STATUSES.includes(row.status);
  }

  async countOpenTasks(now: number): Promise<OpenTaskCounts> {
    const rows = await this.db
      .selectFrom('generation_tasks')
      .select((eb) => [
        'status',
        eb.case().when('available_at', '<=', now).then(1).else(0).end().as('due'),
        eb.fn.countAll<number>().as('count'),
      ])
      .where('status', 'in', OPEN_STATUSES)
      .groupBy(['status', 'due'])
      .execute();

    const counts: OpenTaskCounts = { waiting: 0, delayed: 0, active: 0 };
    for (const row of rows) {
      const count = Number(row.count);
      if (row.status === 'running') {
        counts.active += count;
      } else if (Number(row.due) === 1) {
        counts.waiting += count;
      } else {
        counts.delayed += count;
      }
    }
    return counts;
  }

  private selectQueuedTasks() {
    return this.db
      .selectFrom('generation_tasks')
      .innerJoin('runs', 'runs.id', 'generation_tasks.run_id')
      .select([
        'generation_tasks.id as taskId',
        'generation_tasks.run_id as runId',
        'runs.engine as engine',
        'generation_tasks.max_attempts as maxAttempts',
      ]);
  }
}
