import type { ExpressionBuilder, Kysely, UpdateObject } from 'kysely';
import type { DatabaseDialect } from '../database.js';
import type { Database } from '../schema.js';

type TaskChanges = UpdateObject<Database, 'generation_tasks'>;

export interface ClaimedTaskRow {
  id: string;
  run_id: string;
  attempts: number;
  max_attempts: number;
}

/**
 * Queries of the embedded task queue, which keeps its state in `generation_tasks`: `status` (`pending`
 * or `running` while queued), `attempts`, `available_at` and the lease columns. Every write after the
 * claim is fenced by `lease_owner`, so a worker that lost its lease cannot change a task another worker
 * now holds.
 */
export class TaskLeaseRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DatabaseDialect,
  ) {}

  /**
   * Reserves the oldest task that is due, or whose lease has expired, for `owner` until `now + leaseMs`
   * and counts the attempt. One statement does it: PostgreSQL skips rows other workers have locked,
   * and SQLite runs the UPDATE as one write while holding its database lock.
   */
  async claimNextGenerationTask(owner: string, now: number, leaseMs: number): Promise<ClaimedTaskRow | undefined> {
    const candidate = this.db
      .selectFrom('generation_tasks')
      .select('id')
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '=', 'pending'), eb('available_at', '<=', now)]),
          eb.and([eb('status', '=', 'running'), eb('lease_expires_at', '<', now)]),
        ]),
      )
      .orderBy('available_at')
      .orderBy('id')
      .limit(1)
      .$if(this.dialect === 'postgres', (query) => query.forUpdate().skipLocked());

    return this.db
      .updateTable('generation_tasks')
      .set((eb) => ({
        status: 'running',
        lease_owner: owner,
        lease_expires_at: now + leaseMs,
        attempts: eb('attempts', '+', 1),
        started_at: eb.fn.coalesce('started_at', eb.val(now)),
        updated_at: now,
      }))
      .where('id', '=', candidate)
      .returning(['id', 'run_id', 'attempts', 'max_attempts'])
      .executeTakeFirst();
  }

  /** Extends the lease; false when the task is no longer this owner's (expired and reclaimed, or deleted). */
  async renewTaskLease(taskId: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    return this.updateLeasedTask(taskId, owner, { lease_expires_at: now + leaseMs, updated_at: now });
  }

  /** Puts a failed attempt's task back in the queue, due at `availableAt`. */
  async scheduleTaskRetry(taskId: string, owner: string, now: number, availableAt: number, error: string): Promise<boolean> {
    return this.updateLeasedTask(taskId, owner, {
      status: 'pending',
      lease_owner: null,
      lease_expires_at: null,
      available_at: availableAt,
      last_error: error,
      updated_at: now,
    });
  }

  /** Gives a task back without counting the attempt, for a worker that stops before finishing it. */
  async releaseTaskLease(taskId: string, owner: string, now: number): Promise<boolean> {
    return this.updateLeasedTask(taskId, owner, (eb) => ({
      status: 'pending',
      lease_owner: null,
      lease_expires_at: null,
      available_at: now,
      attempts: eb('attempts', '-', 1),
      updated_at: now,
    }));
  }

  /** Applies `changes` to a running task only while `owner` holds its lease; true when it did. */
  private async updateLeasedTask(
    taskId: string,
    owner: string,
    changes: TaskChanges | ((eb: ExpressionBuilder<Database, 'generation_tasks'>) => TaskChanges),
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('generation_tasks')
      .set(changes)
      .where('id', '=', taskId)
      .where('lease_owner', '=', owner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}
