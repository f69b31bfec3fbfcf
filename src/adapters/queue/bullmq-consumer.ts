import { type Job, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { QueuedTask } from '../database/repositories/queued-task-repository.js';
import type { BullMqTaskQueue, BullMqTaskQueueOptions, TaskJobData } from './bullmq-queue.js';
import { AttemptAbortedError } from './database-task-queue.js';
import { type DeliveredTask, PermanentTaskError, type TaskProcessor, retryDelayMs } from './task-queue.js';

export interface BullMqConsumerOptions extends BullMqTaskQueueOptions {
  engines: string[];
  concurrency: number;
}

interface ActiveAttempt {
  task: DeliveredTask;
  controller: AbortController;
}

/** Open tasks checked against Redis per recovery pass, oldest first, with two Redis round trips each. */
// NOTE: with more open tasks than this, a newer task that Redis lost waits until older ones finish.
const RECOVERY_BATCH = 1000;
// A worker that dies while running a task leaves a stalled job, which BullMQ gives back to the queue.
// After this many stalls the job fails for good, like a task whose worker keeps being killed.
const MAX_STALLS = 2;

/**
 * Runs tasks from Redis: one BullMQ Worker per engine this process serves, each running up to
 * `concurrency` tasks, and a recovery pass at start and every `recoveryIntervalMs`.
 */
export class BullMqTaskConsumer {
  private readonly workers: Worker<TaskJobData>[] = [];
  private readonly active = new Map<string, ActiveAttempt>();
  private recoveryTimer: NodeJS.Timeout | undefined;
  private recovering: Promise<void> = Promise.resolve();
  private readonly logger: Logger;

  constructor(
    private readonly queue: BullMqTaskQueue,
    private readonly processor: TaskProcessor,
    private readonly options: BullMqConsumerOptions,
  ) {
    this.logger = options.logger;
  }

  start(): void {
    for (const engine of this.options.engines) {
      this.workers.push(this.startWorker(engine));
    }
    this.recovering = this.recover();
    this.recoveryTimer = setInterval(() => {
      this.recovering = this.recovering.then(() => this.recover());
    }, this.options.recoveryIntervalMs);
    this.recoveryTimer.unref();
    this.logger.info({ engines: this.options.engines, concurrency: this.options.concurrency }, 'BullMQ task consumer started');
  }

  cancelRuns(runIds: Set<string>): void {
    for (const attempt of this.active.values()) {
      if (runIds.has(attempt.task.runId)) {
        attempt.controller.abort(new AttemptAbortedError('cancelled'));
      }
    }
  }

  /**
   * Stops taking jobs and waits up to `timeoutMs` for those running. Attempts still running then are
   * aborted and their jobs put back in the queue without counting the attempt.
   */
  async stop(timeoutMs: number): Promise<void> {
    clearInterval(this.recoveryTimer);
    const closing = Promise.all(this.workers.map((worker) => worker.close()));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timed_out'>((resolve) => {
      timer = setTimeout(() => resolve('timed_out'), timeoutMs);
    });
    const outcome = await Promise.race([closing, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timed_out') {
      this.logger.warn({ tasks: this.active.size }, 'stopping: putting tasks still running back in the queue');
      for (const attempt of this.active.values()) {
        attempt.controller.abort(new AttemptAbortedError('stopping'));
      }
      await closing;
    }
    await this.recovering;
    this.logger.info('BullMQ task consumer stopped');
  }

  private startWorker(engine: string): Worker<TaskJobData> {
    const { redis, retryBaseDelayMs, retryMaxDelayMs, lockMs } = this.options;
    const worker = new Worker<TaskJobData>(this.queue.queueName(engine), (job, token, signal) => this.run(job, token, signal), {
      connection: { url: redis.url, maxRetriesPerRequest: null },
      prefix: redis.keyPrefix,
      concurrency: this.options.concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      maxStalledCount: MAX_STALLS,
      settings: { backoffStrategy: (attemptsMade) => retryDelayMs(attemptsMade, retryBaseDelayMs, retryMaxDelayMs) },
    });
    worker.on('error', (error) => this.logger.warn({ err: error, engine }, 'BullMQ worker error (it retries)'));
    worker.on('lockRenewalFailed', (jobIds: string[]) => {
      for (const jobId of jobIds) {
        this.logger.warn({ taskId: jobId }, 'lock on a task lost: aborting the attempt');
        this.active.get(jobId)?.controller.abort(new AttemptAbortedError('lease_lost'));
      }
    });
    // BullMQ emits 'failed' for every failed attempt, retried or not. A job that ended in the failed set
    // without the processor recording it, such as one that stalled too often, is recorded here.
    worker.on('failed', (job, error) => {
      if (job !== undefined) {
        void this.recordFailureIfFailedForGood(job, error);
      }
    });
    return worker;
  }

  private async run(job: Job<TaskJobData>, token: string | undefined, signal: AbortSignal | undefined): Promise<string> {
    const task = jobTask(job);
    const log = this.logger.child({ taskId: task.taskId, runId: task.runId, attempt: task.attempt, engine: job.data.engine });
    if (!(await this.options.tasks.isTaskOpen(task.taskId))) {
      log.info('task already finished or deleted: skipping the job');
      return 'skipped';
    }

    const controller = new AbortController();
    signal?.addEventListener('abort', () => controller.abort(new AttemptAbortedError('lease_lost')), { once: true });
    this.active.set(task.taskId, { task, controller });
    try {
      await this.processor.process(task, controller.signal);
      log.debug('task attempt succeeded');
      return 'succeeded';
    } catch (error) {
      return await this.handleFailure(job, token, task, controller, error, log);
    } finally {
      this.active.delete(task.taskId);
    }
  }

  private async handleFailure(
    job: Job<TaskJobData>,
    token: string | undefined,
    task: DeliveredTask,
    controller: AbortController,
    error: unknown,
    log: Logger,
  ): Promise<string> {
    const reason = controller.signal.reason as unknown;
    if (controller.signal.aborted && reason instanceof AttemptAbortedError) {
      if (reason.kind === 'stopping') {
        await job.moveToWait(token);
        log.info('task put back in the queue for another worker');
        throw new WaitingError();
      }
      if (reason.kind === 'cancelled') {
        log.info('task attempt abandoned: its run was deleted');
        return 'cancelled';
      }
      log.info('task attempt abandoned: its lock passed to another worker');
      throw error;
    }

    const permanent = error instanceof PermanentTaskError;
    if (permanent || task.attempt >= task.maxAttempts) {
      log.error({ err: error, permanent }, 'task failed for good');
      // Recorded before BullMQ marks the job failed, so the database never lags behind Redis here. If it
      // fails, the 'failed' event and the recovery pass record it again.
      await this.processor.fail(task, error);
      throw new UnrecoverableError(error instanceof Error ? error.message : String(error));
    }
    log.warn({ err: error }, 'task attempt failed; BullMQ retries it after a backoff');
    throw error;
  }

  private async recordFailureIfFailedForGood(job: Job<TaskJobData>, error: unknown): Promise<void> {
    try {
      if ((await job.getState()) === 'failed') {
        await this.recordFailureIfOpen(jobTask(job), error);
      }
    } catch (stateError) {
      this.logger.warn({ err: stateError, taskId: job.id }, 'reading a failed job\'s state failed; the recovery pass checks it');
    }
  }

  private async recordFailureIfOpen(task: DeliveredTask, error: unknown): Promise<void> {
    try {
      if (await this.options.tasks.isTaskOpen(task.taskId)) {
        this.logger.error({ err: error, taskId: task.taskId, runId: task.runId }, 'task failed for good outside its processor');
        await this.processor.fail(task, new PermanentTaskError(`The task failed for good: ${(error as Error).message}`));
      }
    } catch (recordError) {
      this.logger.error({ err: recordError, taskId: task.taskId }, 'recording a failed task failed; the recovery pass retries');
    }
  }

  /**
   * Compares the open tasks in the database with Redis: adds the jobs Redis lacks and records the failure
   * of tasks whose job failed for good while the database still has them open.
   */
  private async recover(): Promise<void> {
    try {
      for (const engine of this.options.engines) {
        await this.queue.applyQueueSettings(engine);
      }
      const open = await this.options.tasks.listOpenTasks(RECOVERY_BATCH);
      const missing: QueuedTask[] = [];
      for (const task of open) {
        const job = await this.queue.findJob(task);
        if (job === undefined) {
          missing.push(task);
        } else if ((await job.getState()) === 'failed') {
          await this.recordFailureIfOpen(jobTask(job), new Error(job.failedReason));
        }
      }
      if (missing.length > 0) {
        await this.queue.addTasks(missing);
        this.logger.warn({ tasks: missing.length, taskIds: missing.slice(0, 20).map((task) => task.taskId) }, 'recovered open tasks that Redis did not have');
      }
    } catch (error) {
      this.logger.error({ err: error }, 'task recovery pass failed; the next pass tries again');
    }
  }
}

function jobTask(job: Job<TaskJobData>): DeliveredTask {
  return { taskId: job.data.taskId, runId: job.data.runId, attempt: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? 1 };
}
