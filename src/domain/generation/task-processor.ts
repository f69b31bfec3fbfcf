import type { Logger } from 'pino';
import type { PhotosRepository } from '../../adapters/database/repositories/photos-repository.js';
import type { GenerationRepository, StoredImage, TaskWork } from '../../adapters/database/repositories/generation-repository.js';
import { EngineError, type GenerationEngine, type RenderedImage } from '../../adapters/engines/generation-engine.js';
import { type DeliveredTask, PermanentTaskError, type TaskProcessor } from '../../adapters/queue/task-queue.js';
import type { ObjectStorage } from '../../adapters/storage/object-storage.js';
import type { Clock } from '../clock.js';
import { untilAborted } from './deadline.js';
import { toEnginePhotos } from './engine-photos.js';
import type { EngineRegistry } from './engine-registry.js';
import type { RunNotifier } from './run-notifier.js';
import { resultStorageKey } from './storage-keys.js';

/** Thrown when an attempt passes its deadline; retried like any transient engine failure. */
export class TaskTimeoutError extends EngineError {
  constructor(timeoutMs: number) {
    super(`The engine did not finish within ${timeoutMs} ms`, true, `The image generator did not finish within ${Math.round(timeoutMs / 1000)} seconds.`);
    this.name = 'TaskTimeoutError';
  }
}

export interface TaskProcessorDependencies {
  generation: GenerationRepository;
  photos: PhotosRepository;
  engines: EngineRegistry;
  storage: ObjectStorage;
  notifier: RunNotifier;
  clock: Clock;
  logger: Logger;
  taskTimeoutMs: number;
}

/**
 * Runs one generation task: prepares the job for the engine once, renders the task's prompt, stores the
 * images under keys fixed by (run, prompt, image) and records them. Every failure is thrown to the queue,
 * which retries it unless it is a `PermanentTaskError`.
 */
export class GenerationTaskProcessor implements TaskProcessor {
  /** Preparations being computed in this process, so concurrent tasks of one job share one. */
  private readonly preparing = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: TaskProcessorDependencies) {}

  async process(task: DeliveredTask, signal: AbortSignal): Promise<void> {
    const { generation, clock } = this.deps;
    const work = await generation.findTaskWork(task.taskId);
    if (work === undefined) {
      this.deps.logger.info({ taskId: task.taskId }, 'task no longer exists (job deleted): skipping');
      return;
    }
    await generation.markRunProcessing(work.runId, clock.now());

    const engine = this.deps.engines.get(work.engine);
    if (engine === undefined) {
      throw new PermanentTaskError(`The "${work.engine}" image generator is not available on this server.`);
    }

    const timeoutMs = taskTimeoutFor(engine, this.deps.taskTimeoutMs);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new TaskTimeoutError(timeoutMs)), timeoutMs);
    const attemptSignal = AbortSignal.any([signal, deadline.signal]);
    try {
      const images = await this.render(work, engine, attemptSignal);
      await this.store(work, images, attemptSignal);
    } catch (error) {
      throw error instanceof EngineError && !error.retryable ? new PermanentTaskError(error.userMessage, { cause: error }) : error;
    } finally {
      clearTimeout(timer);
    }
  }

  async fail(task: DeliveredTask, error: unknown): Promise<void> {
    const reason = readableReason(error, task.attempt);
    const outcome = await this.deps.generation.recordTaskFailure(task.taskId, task.runId, reason, this.deps.clock.now());
    if (outcome.recorded && outcome.finished !== undefined) {
      await this.deps.notifier.notifyRun(outcome.finished);
    }
  }

  private async render(work: TaskWork, engine: GenerationEngine, signal: AbortSignal): Promise<RenderedImage[]> {
    const preparation = await this.prepare(work.jobId, engine, signal);
    const images = await untilAborted(
      engine.render({
        jobId: work.jobId,
        packName: work.packName,
        promptIndex: work.promptIndex,
        prompt: work.prompt,
        negativePrompt: work.negativePrompt,
        seed: work.seed,
        imageCount: work.imageCount,
        preparation,
        storage: this.deps.storage,
        signal,
      }),
      signal,
    );
    if (images.length !== work.imageCount) {
      throw new EngineError(
        `The ${engine.name} engine returned ${images.length} images for prompt ${work.promptIndex}, expected ${work.imageCount}`,
        true,
      );
    }
    return images;
  }

  /** Returns the job's stored preparation for `engine`, running `engine.prepare` first when there is none. */
  private async prepare(jobId: string, engine: GenerationEngine, signal: AbortSignal): Promise<unknown> {
    const stored = await this.deps.generation.findEnginePreparation(jobId, engine.name);
    if (stored !== undefined) {
      return stored;
    }
    // NOTE: tasks of one job in different processes may each prepare once; the first stored result wins.
    const key = `${jobId}\n${engine.name}`;
    let pending = this.preparing.get(key);
    if (pending === undefined) {
      pending = this.runPrepare(jobId, engine, signal).finally(() => this.preparing.delete(key));
      this.preparing.set(key, pending);
    }
    return untilAborted(pending, signal);
  }

  private async runPrepare(jobId: string, engine: GenerationEngine, signal: AbortSignal): Promise<unknown> {
    const photos = toEnginePhotos(await this.deps.photos.listPhotosOfJob(jobId));
    const data = await untilAborted(engine.prepare({ jobId, photos, storage: this.deps.storage, signal }), signal);
    return this.deps.generation.saveEnginePreparation(jobId, engine.name, data, this.deps.clock.now());
  }

  private async store(work: TaskWork, images: RenderedImage[], signal: AbortSignal): Promise<void> {
    const stored: StoredImage[] = [];
    for (const [imageIndex, image] of images.entries()) {
      signal.throwIfAborted();
      const storageKey = resultStorageKey(work.jobId, work.runId, work.promptIndex, imageIndex, image.contentType);
      const { bytes } = await this.deps.storage.put(storageKey, image.data, image.contentType);
      stored.push({ imageIndex, storageKey, contentType: image.contentType, width: image.width, height: image.height, bytes });
    }
    signal.throwIfAborted();

    const outcome = await this.deps.generation.recordTaskSuccess(work.taskId, work.runId, stored, this.deps.clock.now());
    if (!outcome.recorded) {
      // The job was deleted, or the task failed for good meanwhile: what was just written belongs to nothing.
      await this.deps.storage.delete(stored.map((image) => image.storageKey));
      this.deps.logger.info({ taskId: work.taskId, why: outcome.why }, 'task result discarded');
      return;
    }
    if (outcome.finished !== undefined) {
      await this.deps.notifier.notifyRun(outcome.finished);
    }
  }
}

/**
 * Returns an attempt's deadline in milliseconds: TASK_TIMEOUT_MS, or the engine's own task timeout when
 * that is longer, so a remote engine is not aborted before its provider call's deadline.
 */
export function taskTimeoutFor(engine: GenerationEngine, configuredTimeoutMs: number): number {
  return Math.max(configuredTimeoutMs, engine.taskTimeoutMs ?? 0);
}

/** Returns the reason a person is shown when a task fails for good. */
function readableReason(error: unknown, attempts: number): string {
  if (error instanceof PermanentTaskError) {
    return error.message;
  }
  const tried = attempts === 1 ? 'tried once' : `tried ${attempts} times`;
  const message = error instanceof EngineError ? error.userMessage : 'The image generator failed on this prompt.';
  return `${message.replace(/\.$/, '')} (${tried}).`;
}
