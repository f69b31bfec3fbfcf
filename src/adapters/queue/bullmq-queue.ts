import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { GenerationConfig } from '../../config/config.js';
import type { RedisQueueConfig } from '../../config/scale-config.js';
import type { QueuedTask, QueuedTaskRepository } from '../database/repositories/queued-task-repository.js';
import { BullMqTaskConsumer } from './bullmq-consumer.js';
import type { ConsumerOptions, TaskConsumer, TaskProcessor, TaskQueue, TaskReference } from './task-queue.js';

export interface BullMqTaskQueueOptions {
  redis: RedisQueueConfig;
  tasks: QueuedTaskRepository;
  /** Names of the engines whose tasks this process's consumers run. */
  consumedEngines: () => string[];
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  /** How long a worker's lock on a job lasts without renewal; a job whose lock expires is stalled. */
  lockMs: number;
  /** How often consumers compare the database's open tasks with Redis and repair the difference. */
  recoveryIntervalMs: number;
  logger: Logger;
}

/** Data stored with each BullMQ job. The job id is the task id, so adding a task twice adds one job. */
export interface TaskJobData {
  taskId: string;
  runId: string;
  engine: string;
}

/** A task that failed for good, as the dead-letter view lists it. */
export interface DeadLetter {
  taskId: string;
  runId: string;
  engine: string;
  attempts: number;
  reason: string;
  failedAt: number | undefined;
}

// Completed jobs are kept for an hour, so a task recovered twice within that time still collapses onto
// one job id. Failed jobs are kept two weeks as the dead-letter list.
const KEEP_COMPLETED = { age: 3600, count: 100_000 };
const KEEP_FAILED = { age: 14 * 24 * 3600, count: 100_000 };
const ENQUEUE_TIMEOUT_MS = 5000;
const PING_TIMEOUT_MS = 3000;
/** Minimum time between two recovery passes. Above it, the interval is one lock duration. */
const RECOVERY_INTERVAL_MS = 15_000;

/**
 * The task queue on Redis with BullMQ. The database stays the record of each task's state; BullMQ only
 * carries the work, with one queue per engine so that ENGINE_CONCURRENCY can cap each engine across all
 * workers (BullMQ's global concurrency). Retries use BullMQ's attempts with the pipeline's backoff,
 * stalled jobs (a worker that died) return to the queue, and jobs that failed for good stay in each
 * queue's failed set, the dead-letter list.
 *
 * A task can be committed to the database but never reach Redis: the process died in between, or Redis
 * was down or lost its data. The consumers' recovery pass finds such tasks and adds every open task that
 * Redis does not have.
 */
export class BullMqTaskQueue implements TaskQueue {
  /** Producer connection, shared by every Queue object of this process. */
  private readonly connection: Redis;
  private readonly queues = new Map<string, Promise<Queue<TaskJobData>>>();
  private readonly consumers = new Set<BullMqTaskConsumer>();

  constructor(private readonly options: BullMqTaskQueueOptions) {
    this.connection = new Redis(options.redis.url, { maxRetriesPerRequest: null, lazyConnect: true });
    this.connection.on('error', (error) => options.logger.warn({ err: error }, 'Redis connection error (the queue reconnects)'));
  }

  /**
   * Adds the tasks to their engines' queues. A failure is logged and not thrown: the tasks are already
   * committed, and the next recovery pass adds them.
   */
  async enqueue(references: TaskReference[]): Promise<void> {
    try {
      const tasks = await this.options.tasks.findQueuedTasks(references.map((reference) => reference.taskId));
      await withTimeout(this.addTasks(tasks), ENQUEUE_TIMEOUT_MS, 'adding tasks to Redis');
    } catch (error) {
      this.options.logger.warn(
        { err: error, taskIds: references.map((reference) => reference.taskId) },
        'enqueueing tasks failed; the recovery pass will add them',
      );
    }
  }

  startConsumer(processor: TaskProcessor, options: ConsumerOptions): TaskConsumer {
    const consumer = new BullMqTaskConsumer(this, processor, {
      ...this.options,
      engines: this.options.consumedEngines(),
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

  /** Adds jobs for these tasks; a task whose job already exists is left as it is. */
  async addTasks(tasks: QueuedTask[]): Promise<void> {
    const byEngine = new Map<string, QueuedTask[]>();
    for (const task of tasks) {
      byEngine.set(task.engine, [...(byEngine.get(task.engine) ?? []), task]);
    }
    for (const [engine, engineTasks] of byEngine) {
      const queue = await this.queueFor(engine);
      await this.connection.sadd(this.enginesKey(), engine);
      await queue.addBulk(
        engineTasks.map((task) => ({
          name: 'generate',
          data: { taskId: task.taskId, runId: task.runId, engine },
          opts: {
            jobId: task.taskId,
            attempts: task.maxAttempts,
            backoff: { type: 'envision' },
            removeOnComplete: KEEP_COMPLETED,
            removeOnFail: KEEP_FAILED,
          },
        })),
      );
    }
  }

  /** Finds the job of a task; undefined when Redis has none. */
  async findJob(task: QueuedTask): Promise<Job<TaskJobData> | undefined> {
    const queue = await this.queueFor(task.engine);
    return (await queue.getJob(task.taskId)) ?? undefined;
  }

  /** Number of jobs by state, summed over the queues of every engine that ever had a task. */
  async depth(): Promise<Record<string, number>> {
    const totals: Record<string, number> = {};
    for (const engine of await this.knownEngines()) {
      const counts = await (await this.queueFor(engine)).getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed');
      for (const [state, count] of Object.entries(counts)) {
        totals[state] = (totals[state] ?? 0) + count;
      }
    }
    return totals;
  }

  /** Lists the most recent tasks that failed for good, newest first, up to `limit` per engine. */
  async listDeadLetters(limit: number): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    for (const engine of await this.knownEngines()) {
      const jobs = await (await this.queueFor(engine)).getFailed(0, limit - 1);
      for (const job of jobs) {
        const data = job.data as TaskJobData;
        letters.push({
          taskId: data.taskId,
          runId: data.runId,
          engine,
          attempts: job.attemptsMade,
          reason: job.failedReason,
          failedAt: job.finishedOn,
        });
      }
    }
    return letters.sort((a, b) => (b.failedAt ?? 0) - (a.failedAt ?? 0));
  }

  async ping(): Promise<void> {
    await withTimeout(this.connection.ping(), PING_TIMEOUT_MS, 'Redis PING');
  }

  /** Removes every key of this queue's prefix's queues. For tests. */
  async obliterate(): Promise<void> {
    for (const engine of await this.knownEngines()) {
      await (await this.queueFor(engine)).obliterate({ force: true });
    }
    await this.connection.del(this.enginesKey());
  }

  async close(): Promise<void> {
    // Disconnecting first fails the commands still waiting for an unreachable Redis, so nothing below waits.
    this.connection.disconnect();
    const queues = [...this.queues.values()];
    this.queues.clear();
    await Promise.allSettled(queues.map(async (queue) => (await queue).close()));
  }

  queueName(engine: string): string {
    return `generation-${engine}`;
  }

  /** Returns the Queue of an engine, created on first use with the engine's concurrency limit applied. */
  private queueFor(engine: string): Promise<Queue<TaskJobData>> {
    let queue = this.queues.get(engine);
    if (queue === undefined) {
      queue = this.openQueue(engine);
      this.queues.set(engine, queue);
      queue.catch(() => this.queues.delete(engine));
    }
    return queue;
  }

  private async openQueue(engine: string): Promise<Queue<TaskJobData>> {
    const queue = new Queue<TaskJobData>(this.queueName(engine), { connection: this.connection, prefix: this.options.redis.keyPrefix });
    await this.applyQueueSettings(engine, queue);
    return queue;
  }

  /**
   * Writes an engine's concurrency limit and its name in the set of engines to Redis. Each recovery pass
   * writes them again, because a Redis that restarts without persistence loses them.
   */
  async applyQueueSettings(engine: string, queue?: Queue<TaskJobData>): Promise<void> {
    const target = queue ?? (await this.queueFor(engine));
    const limit = this.options.redis.engineConcurrency[engine];
    if (limit === undefined) {
      await target.removeGlobalConcurrency();
    } else {
      await target.setGlobalConcurrency(limit);
    }
    await this.connection.sadd(this.enginesKey(), engine);
  }

  private async knownEngines(): Promise<string[]> {
    return (await this.connection.smembers(this.enginesKey())).sort();
  }

  private enginesKey(): string {
    return `${this.options.redis.keyPrefix}:envision:engines`;
  }
}

/** Rejects when `promise` has not settled after `ms`; the operation itself may still finish later. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Builds the BullMQ queue from the configuration; `consumedEngines` names the engines this process runs. */
export function createBullMqTaskQueue(
  redis: RedisQueueConfig,
  generation: GenerationConfig,
  tasks: QueuedTaskRepository,
  consumedEngines: () => string[],
  logger: Logger,
): BullMqTaskQueue {
  return new BullMqTaskQueue({
    redis,
    tasks,
    consumedEngines,
    retryBaseDelayMs: generation.retryBaseDelayMs,
    retryMaxDelayMs: generation.retryMaxDelayMs,
    lockMs: generation.leaseMs,
    recoveryIntervalMs: Math.max(generation.leaseMs, RECOVERY_INTERVAL_MS),
    logger: logger.child({ component: 'task-queue' }),
  });
}
