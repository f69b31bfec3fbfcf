/**
 * How generation tasks reach workers. The tasks themselves are rows of `generation_tasks`, written in
 * the transaction that starts a run; a queue only delivers them to a processor, keeps each one reserved
 * for a single worker while it runs, and schedules retries.
 *
 * The shape follows BullMQ so a Redis-backed queue can replace the embedded one: `enqueue` is called
 * after the commit (like `Queue.addBulk`), a consumer runs a processor with a concurrency (like
 * `new Worker(name, processor, { concurrency })`), a thrown `PermanentTaskError` ends a task without
 * retries (like `UnrecoverableError`), and `stop` drains in-flight work (like `Worker.close()`).
 */
export interface TaskQueue {
  /** Makes tasks whose rows are already committed available to consumers. */
  enqueue(tasks: TaskReference[]): Promise<void>;

  /** Starts running tasks with `processor`, up to `concurrency` at once in this process. */
  startConsumer(processor: TaskProcessor, options: ConsumerOptions): TaskConsumer;

  /**
   * Aborts the attempts of these runs that this process is running. Workers in other processes notice
   * at their next lease renewal, when the deleted task rows can no longer be renewed.
   */
  cancelRuns(runIds: string[]): void;
}

export interface TaskReference {
  taskId: string;
  runId: string;
}

/** A task as a processor receives it. */
export interface DeliveredTask extends TaskReference {
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
}

export interface TaskProcessor {
  /**
   * Runs one attempt. Resolving completes the task; throwing fails the attempt, which is retried with
   * backoff unless the error is a `PermanentTaskError` or the attempts are used up. `signal` aborts when
   * the worker loses its lease, the run is cancelled or a stopping worker gives up waiting.
   */
  process(task: DeliveredTask, signal: AbortSignal): Promise<void>;

  /** Records that a task failed for good. Called once per task, with the error of its last attempt. */
  fail(task: DeliveredTask, error: unknown): Promise<void>;
}

export interface ConsumerOptions {
  concurrency: number;
}

export interface TaskConsumer {
  /**
   * Stops claiming tasks and waits up to `timeoutMs` for those in flight. Attempts still running after
   * that are aborted and their tasks released, uncounted, for another worker.
   */
  stop(timeoutMs: number): Promise<void>;
}

/** An error that retrying cannot fix, such as an engine's refusal of the photos. */
export class PermanentTaskError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentTaskError';
  }
}

/** Delay before retry number `retry` (1 for the first retry): exponential, capped, with ±20 % jitter. */
export function retryDelayMs(retry: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(exponential * (0.8 + 0.4 * random()));
}
