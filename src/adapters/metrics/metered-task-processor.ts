import { performance } from 'node:perf_hooks';
import type { QueuedTaskRepository } from '../database/repositories/queued-task-repository.js';
import type { DeliveredTask, TaskProcessor } from '../queue/task-queue.js';
import type { TaskMetrics } from './metrics.js';

/** Runs whose engine is remembered, so most attempts need no lookup. */
const ENGINE_CACHE_SIZE = 1000;

/**
 * Wraps a task processor so that every attempt's duration and outcome, and every task that fails for
 * good, are recorded by engine. Works with any queue, because it sits between the queue and the processor.
 * Attempts aborted by the queue (a stopping worker, a deleted run) are not recorded.
 */
export function meterTaskProcessor(processor: TaskProcessor, tasks: QueuedTaskRepository, metrics: TaskMetrics): TaskProcessor {
  const engines = new Map<string, string>();

  const engineOf = async (task: DeliveredTask): Promise<string> => {
    const cached = engines.get(task.runId);
    if (cached !== undefined) {
      return cached;
    }
    const [found] = await tasks.findQueuedTasks([task.taskId]);
    const engine = found?.engine ?? 'unknown';
    if (engines.size >= ENGINE_CACHE_SIZE) {
      engines.delete(engines.keys().next().value!);
    }
    engines.set(task.runId, engine);
    return engine;
  };

  return {
    async process(task, signal) {
      const started = performance.now();
      try {
        await processor.process(task, signal);
        metrics.observeTaskAttempt(await engineOf(task).catch(() => 'unknown'), 'succeeded', (performance.now() - started) / 1000);
      } catch (error) {
        if (!signal.aborted) {
          metrics.observeTaskAttempt(await engineOf(task).catch(() => 'unknown'), 'failed', (performance.now() - started) / 1000);
        }
        throw error;
      }
    },

    async fail(task, error) {
      await processor.fail(task, error);
      metrics.countTaskFailure(await engineOf(task).catch(() => 'unknown'));
    },
  };
}
