import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { TaskLeaseRepository } from '../database/repositories/task-lease-repository.js';
import type { Clock } from '../../domain/clock.js';
import {
  type ConsumerOptions,
  type DeliveredTask,
  PermanentTaskError,
  type TaskConsumer,
  type TaskProcessor,
  type TaskQueue,
  type TaskReference,
  retryDelayMs,
} from './task-queue.js';

export interface DatabaseTaskQueueOptions {
  leaseMs: number;
  pollIntervalMs: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
}

/** Reason the queue itself aborted an attempt, which the processor receives as `signal.reason`. */
export class AttemptAbortedError extends Error {
  constructor(readonly kind: 'lease_lost' | 'cancelled' | 'stopping') {
    super(`The attempt was aborted: ${kind.replace('_', ' ')}`);
    this.name = 'AttemptAbortedError';
  }
}

/**
 * The embedded queue: the `generation_tasks` table is the queue, so it needs nothing beyond the
 * database. Idle consumers poll it every `pollIntervalMs`; `enqueue` wakes the consumers of this process
 * at once, and other processes find the tasks at their next poll.
 */
export class DatabaseTaskQueue implements TaskQueue {
  private readonly consumers = new Set<DatabaseTaskConsumer>();

  constructor(
    private readonly leases: TaskLeaseRepository,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: DatabaseTaskQueueOptions,
  ) {}

  async enqueue(_tasks: TaskReference[]): Promise<void> {
    for (const consumer of this.consumers) {
      consumer.wake();
    }
  }

  startConsumer(processor: TaskProcessor, options: ConsumerOptions): TaskConsumer {
    const consumer = new DatabaseTaskConsumer(this.leases, this.clock, this.logger, processor, {
      ...this.options,
      concurrency: options.concurrency,
    });
    this.consumers.add(consumer);
    consumer.start();
    return {
      stop: async (timeoutMs) => {
        await consumer.stop(timeoutMs);
        this.consumers.delete(consumer);
      },
    };
  }

  cancelRuns(runIds: string[]): void {
    for (const consumer of this.consumers) {
      consumer.cancelRuns(new Set(runIds));
    }
  }
}

interface ActiveAttempt {
  task: DeliveredTask;
  controller: AbortController;
  done: Promise<void>;
}

class DatabaseTaskConsumer {
  /** Names this consumer in `lease_owner`, for logs and for fencing writes. */
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID()}`;
  private readonly active = new Map<string, ActiveAttempt>();
  private stopping = false;
  private loop: Promise<void> = Promise.resolve();
  private wakeUp: (() => void) | undefined;
  private wakePending = false;

  constructor(
    private readonly leases: TaskLeaseRepository,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly processor: TaskProcessor,
    private readonly options: DatabaseTaskQueueOptions & ConsumerOptions,
  ) {}

  start(): void {
    this.logger.info({ owner: this.owner, concurrency: this.options.concurrency }, 'task consumer started');
    this.loop = this.run();
  }

  wake(): void {
    if (this.wakeUp === undefined) {
      this.wakePending = true;
    } else {
      this.wakeUp();
    }
  }

  cancelRuns(runIds: Set<string>): void {
    for (const attempt of this.active.values()) {
      if (runIds.has(attempt.task.runId)) {
        attempt.controller.abort(new AttemptAbortedError('cancelled'));
      }
    }
  }

  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;

    const inFlight = [...this.active.values()];
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timed_out'>((resolve) => {
      timer = setTimeout(() => resolve('timed_out'), timeoutMs);
    });
    const outcome = await Promise.race([Promise.all(inFlight.map((attempt) => attempt.done)), timedOut]);
    clearTimeout(timer);

    if (outcome === 'timed_out') {
      this.logger.warn({ owner: this.owner, tasks: this.active.size }, 'stopping: releasing tasks still running');
      for (const attempt of this.active.values()) {
        attempt.controller.abort(new AttemptAbortedError('stopping'));
      }
      await Promise.all([...this.active.values()].map((attempt) => attempt.done));
    }
    this.logger.info({ owner: this.owner }, 'task consumer stopped');
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.claimWhileSlotsFree();
      } catch (error) {
        this.logger.error({ err: error, owner: this.owner }, 'claiming a task failed; trying again after the poll interval');
      }
      if (!this.stopping) {
        await this.sleep(this.options.pollIntervalMs);
      }
    }
  }

  /** Claims tasks until every slot is busy or none is due. */
  private async claimWhileSlotsFree(): Promise<void> {
    while (!this.stopping && this.active.size < this.options.concurrency) {
      const row = await this.leases.claimNextGenerationTask(this.owner, this.clock.now(), this.options.leaseMs);
      if (row === undefined) {
        return;
      }
      this.begin({ taskId: row.id, runId: row.run_id, attempt: row.attempts, maxAttempts: row.max_attempts });
    }
  }

  /** Waits for `ms`, a wake-up or a freed slot, whichever comes first. A wake-up sent while awake is kept. */
  private sleep(ms: number): Promise<void> {
    if (this.wakePending) {
      this.wakePending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wakeUp = finish;
    });
  }

  private begin(task: DeliveredTask): void {
    const controller = new AbortController();
    const done = this.attempt(task, controller).finally(() => {
      this.active.delete(task.taskId);
      this.wake();
    });
    this.active.set(task.taskId, { task, controller, done });
  }

  private async attempt(task: DeliveredTask, controller: AbortController): Promise<void> {
    const log = this.logger.child({ taskId: task.taskId, runId: task.runId, attempt: task.attempt });

    // A task claimed again after its lease expired, with no attempts left: the workers that ran it stopped
    // each time (killed, or out of memory), so running it once more is unlikely to end differently.
    if (task.attempt > task.maxAttempts) {
      const error = new PermanentTaskError(`The worker running this task stopped ${task.maxAttempts} times before it finished.`);
      log.error({ err: error }, 'task failed: no attempts left after lost leases');
      await this.failForGood({ ...task, attempt: task.maxAttempts }, error, log);
      return;
    }

    const renewal = setInterval(() => void this.renewLease(task, controller, log), Math.max(10, this.options.leaseMs / 3));
    try {
      await this.processor.process(task, controller.signal);
      log.debug('task attempt succeeded');
    } catch (error) {
      try {
        await this.handleFailure(task, controller, error, log);
      } catch (handlingError) {
        // The lease runs out and another worker claims the task again.
        log.error({ err: handlingError, attemptError: error }, 'recording a failed attempt failed');
      }
    } finally {
      clearInterval(renewal);
    }
  }

  private async renewLease(task: DeliveredTask, controller: AbortController, log: Logger): Promise<void> {
    if (controller.signal.aborted) {
      return;
    }
    try {
      const renewed = await this.leases.renewTaskLease(task.taskId, this.owner, this.clock.now(), this.options.leaseMs);
      if (!renewed) {
        log.warn('lease lost (task reclaimed or deleted): aborting the attempt');
        controller.abort(new AttemptAbortedError('lease_lost'));
      }
    } catch (error) {
      // The lease runs on until it expires; the next renewal may succeed.
      log.warn({ err: error }, 'renewing a task lease failed');
    }
  }

  private async handleFailure(task: DeliveredTask, controller: AbortController, error: unknown, log: Logger): Promise<void> {
    const reason = controller.signal.reason as unknown;
    if (controller.signal.aborted && reason instanceof AttemptAbortedError) {
      if (reason.kind === 'stopping') {
        const released = await this.leases.releaseTaskLease(task.taskId, this.owner, this.clock.now());
        log.info({ released }, 'task released for another worker');
      } else {
        log.info({ kind: reason.kind }, 'task attempt abandoned');
      }
      return;
    }

    const permanent = error instanceof PermanentTaskError;
    if (permanent || task.attempt >= task.maxAttempts) {
      log.error({ err: error, permanent }, 'task failed for good');
      await this.failForGood(task, error, log);
      return;
    }

    const delay = retryDelayMs(task.attempt, this.options.retryBaseDelayMs, this.options.retryMaxDelayMs);
    const now = this.clock.now();
    const message = error instanceof Error ? error.message : String(error);
    const scheduled = await this.leases.scheduleTaskRetry(task.taskId, this.owner, now, now + delay, message);
    log.warn({ err: error, retryInMs: delay, scheduled }, 'task attempt failed; retrying');
  }

  private async failForGood(task: DeliveredTask, error: unknown, log: Logger): Promise<void> {
    try {
      await this.processor.fail(task, error);
    } catch (failError) {
      // The lease is left to expire, so another worker claims the task and records the failure again.
      log.error({ err: failError }, 'recording a task failure failed');
    }
  }
}
