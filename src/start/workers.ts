import { meterTaskProcessor } from '../adapters/metrics/metered-task-processor.js';
import type { Container } from '../container.js';

export interface RunningWorkers {
  /** Stops claiming tasks and drains those in flight; see `TaskConsumer.stop`. */
  stop(timeoutMs: number): Promise<void>;
}

/** Poll intervals between two sweeps for finished runs whose push was never sent. */
const NOTIFICATION_SWEEP_POLLS = 10;

/**
 * Starts this process's generation workers: a queue consumer running up to WORKER_CONCURRENCY tasks at
 * once, and a periodic sweep that sends the pushes of runs whose worker stopped before sending them.
 */
export function startWorkers(container: Container): RunningWorkers {
  const { generation, config, logger } = container;
  const processor = meterTaskProcessor(generation.processor, container.queuedTasks, container.metrics);
  const consumer = generation.queue.startConsumer(processor, { concurrency: config.workerConcurrency });
  const sweep = setInterval(() => void generation.notifier.sendDueNotifications(), config.generation.pollIntervalMs * NOTIFICATION_SWEEP_POLLS);
  sweep.unref();
  logger.info({ concurrency: config.workerConcurrency, engines: generation.engines.names() }, 'generation workers started');

  return {
    stop: async (timeoutMs) => {
      clearInterval(sweep);
      await consumer.stop(timeoutMs);
    },
  };
}

/** Returns the part of the shutdown budget workers may spend draining, leaving time to release leases and close. */
export function drainTimeoutMs(shutdownTimeoutMs: number): number {
  return Math.max(0, shutdownTimeoutMs - Math.min(2_000, shutdownTimeoutMs / 4));
}
