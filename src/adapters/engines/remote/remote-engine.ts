import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EngineCallRepository } from '../../database/repositories/engine-call-repository.js';
import type { EngineCallRow } from '../../database/schema.js';
import type { Clock } from '../../../domain/clock.js';
import type {
  EngineError,
  GenerationEngine,
  PrepareInput,
  RenderedImage,
  RenderInput,
} from '../generation-engine.js';
import { ConcurrencyLimit } from './concurrency-limit.js';
import { abortedError, retryableError, toEngineError, truncate } from './failures.js';
import type { TemplateUsage } from './templates.js';

export interface RemoteEngineDependencies {
  calls: EngineCallRepository;
  clock: Clock;
  logger: Logger;
}

export interface RemoteEngineLimits {
  /** Calls of this engine running at once in this process; more wait for a free slot. */
  maxConcurrency: number;
  /** A call still open this long after it was created is cancelled and fails as retryable. */
  callTimeoutMs: number;
  /** The reconciler queries the provider about open calls that have had no update for this long. */
  reconcileAfterMs: number;
}

/**
 * Time a task gets beyond its calls' deadline, so the engine's own deadline fires first: it cancels the
 * call at the provider and records it as timed out before the pipeline aborts the attempt.
 */
export const TASK_DEADLINE_MARGIN_MS = 60_000;

/** One provider call of a render: all images at once, or one image when the template has no image count. */
export interface CallPlan {
  batchIndex: number;
  seed: number;
  imageCount: number;
}

/**
 * What ComfyUI and Replicate have in common: a concurrency limit, one `engine_calls` row per provider
 * call, resuming a call that an earlier attempt of the same task started, a deadline per call,
 * cancellation when the render's signal aborts, and a reconciler for calls that no render waits on.
 */
export abstract class RemoteEngine implements GenerationEngine {
  abstract readonly name: string;
  abstract readonly minimumPhotos: number;
  protected abstract readonly usage: TemplateUsage;

  protected readonly calls: EngineCallRepository;
  protected readonly clock: Clock;
  protected readonly logger: Logger;
  private readonly limit: ConcurrencyLimit;
  /** Ids of calls a render in this process is waiting on; the reconciler leaves them alone. */
  private readonly awaitedCalls = new Set<string>();
  private reconcileTimer: NodeJS.Timeout | undefined;
  private reconciling: Promise<unknown> | undefined;
  private readonly closing = new AbortController();

  constructor(
    dependencies: RemoteEngineDependencies,
    protected readonly limits: RemoteEngineLimits,
  ) {
    this.calls = dependencies.calls;
    this.clock = dependencies.clock;
    this.logger = dependencies.logger;
    this.limit = new ConcurrencyLimit(limits.maxConcurrency);
  }

  abstract prepare(input: PrepareInput): Promise<unknown>;

  /** Starts the work at the provider and returns its id. */
  protected abstract createProviderCall(
    input: RenderInput,
    plan: CallPlan,
    signal: AbortSignal,
  ): Promise<{ providerId: string; providerStatus: string | null }>;

  /**
   * Waits until the call ends and returns its images. Throws an EngineError when it fails; `signal`
   * aborts when the render is aborted or the call's deadline passes.
   */
  protected abstract awaitProviderCall(call: EngineCallRow, input: RenderInput, signal: AbortSignal): Promise<RenderedImage[]>;

  /** Asks the provider to stop the call. Best effort: failures are logged by the caller. */
  protected abstract cancelProviderCall(call: EngineCallRow): Promise<void>;

  /** Queries the provider for the status of a call that no render waits on, and records it. */
  protected abstract refreshProviderCall(call: EngineCallRow, signal: AbortSignal): Promise<void>;

  /**
   * The call deadline plus a margin. NOTE: a call that waits for a concurrency slot starts its deadline
   * only when it gets the slot, so a render queued behind busy slots can still reach this limit first.
   */
  get taskTimeoutMs(): number {
    return this.limits.callTimeoutMs + TASK_DEADLINE_MARGIN_MS;
  }

  /** Calls in flight or waiting for a slot, for tests and metrics. */
  get load(): { active: number; waiting: number } {
    return { active: this.limit.activeCount, waiting: this.limit.waitingCount };
  }

  async render(input: RenderInput): Promise<RenderedImage[]> {
    if (input.signal.aborted) {
      throw abortedError(input.signal);
    }
    const plans = this.planCalls(input);

    // One failed call ends the task, so its siblings are cancelled instead of left running.
    const siblings = new AbortController();
    const forwardAbort = () => siblings.abort(input.signal.reason);
    input.signal.addEventListener('abort', forwardAbort, { once: true });
    let firstFailure: unknown;
    try {
      const settled = await Promise.allSettled(
        plans.map((plan) =>
          this.runCall(input, plan, siblings.signal).catch((error: unknown) => {
            if (!siblings.signal.aborted) {
              firstFailure = error;
              siblings.abort(new Error(`another call of this task failed: ${(error as Error).message}`));
            }
            throw error;
          }),
        ),
      );
      if (input.signal.aborted) {
        throw abortedError(input.signal);
      }
      if (firstFailure !== undefined) {
        throw firstFailure;
      }
      const images = settled.flatMap((result) => (result.status === 'fulfilled' ? result.value : []));
      return this.checkImageCount(input, images);
    } finally {
      input.signal.removeEventListener('abort', forwardAbort);
    }
  }

  /**
   * Checks open calls that have had no news for a while: cancels those of deleted jobs and those past
   * their deadline, and queries the provider about the rest. Returns how many calls it checked.
   */
  async reconcileQuietCalls(): Promise<number> {
    const now = this.clock.now();
    const quiet = await this.calls.listQuietOpenCalls(this.name, now - this.limits.reconcileAfterMs, 50);
    let checked = 0;
    for (const call of quiet) {
      if (this.awaitedCalls.has(call.id) || this.closing.signal.aborted) {
        continue;
      }
      checked += 1;
      try {
        if (!(await this.calls.jobExists(call.job_id))) {
          await this.abandonCall(call, 'canceled', 'the job was deleted');
        } else if (now >= call.deadline_at) {
          await this.abandonCall(call, 'failed', `no result within ${call.deadline_at - call.created_at} ms`);
        } else {
          await this.refreshProviderCall(call, this.closing.signal);
          await this.calls.markChecked(call.id, this.clock.now());
        }
      } catch (error) {
        this.logger.warn({ err: error, engine: this.name, callId: call.id, providerId: call.provider_id }, 'reconciling an engine call failed');
      }
    }
    return checked;
  }

  /** Runs `reconcileQuietCalls` every `intervalMs` until `close`. */
  startReconciler(intervalMs: number): void {
    if (this.reconcileTimer !== undefined || intervalMs <= 0) {
      return;
    }
    this.reconcileTimer = setInterval(() => {
      if (this.reconciling !== undefined) {
        return;
      }
      this.reconciling = this.reconcileQuietCalls()
        .catch((error: unknown) => this.logger.error({ err: error, engine: this.name }, 'engine reconciler failed'))
        .finally(() => {
          this.reconciling = undefined;
        });
    }, intervalMs);
    this.reconcileTimer.unref();
  }

  /** Stops the reconciler and waits for a running pass. Renders in flight keep their own signals. */
  async close(): Promise<void> {
    clearInterval(this.reconcileTimer);
    this.reconcileTimer = undefined;
    this.closing.abort(new Error('the engine is closing'));
    await this.reconciling;
  }

  protected planCalls(input: RenderInput): CallPlan[] {
    if (this.usage.usesImageCount) {
      return [{ batchIndex: 0, seed: input.seed, imageCount: input.imageCount }];
    }
    return Array.from({ length: input.imageCount }, (_, index) => ({
      batchIndex: index,
      seed: input.seed + index,
      imageCount: 1,
    }));
  }

  /** Marks an open call as finished with `status`, after asking the provider to stop it. */
  protected async abandonCall(call: EngineCallRow, status: 'canceled' | 'failed', reason: string): Promise<void> {
    try {
      await this.cancelProviderCall(call);
    } catch (error) {
      this.logger.warn({ err: error, engine: this.name, providerId: call.provider_id }, 'cancelling an engine call failed');
    }
    const now = this.clock.now();
    const changed = await this.calls.updateOpenCall(call.id, {
      status,
      error: reason,
      retryable: status === 'failed' ? 1 : null,
      completed_at: now,
      updated_at: now,
    });
    if (changed) {
      this.logger.info({ engine: this.name, providerId: call.provider_id, jobId: call.job_id, status, reason }, 'engine call stopped');
    }
  }

  private async runCall(input: RenderInput, plan: CallPlan, signal: AbortSignal): Promise<RenderedImage[]> {
    let release: () => void;
    try {
      release = await this.limit.acquire(signal);
    } catch {
      throw abortedError(signal);
    }

    let call: EngineCallRow | undefined;
    try {
      call = await this.findOrStartCall(input, plan, signal);
      this.awaitedCalls.add(call.id);
      const deadline = AbortSignal.timeout(Math.max(0, call.deadline_at - this.clock.now()));
      try {
        const images = await this.awaitProviderCall(call, input, AbortSignal.any([signal, deadline]));
        await this.recordSuccess(call, images);
        return images;
      } catch (error) {
        if (!signal.aborted && deadline.aborted) {
          const reason = `no result within ${call.deadline_at - call.created_at} ms`;
          await this.abandonCall(call, 'failed', reason);
          throw retryableError(`${this.name} call ${call.provider_id} timed out: ${reason}`);
        }
        throw error;
      }
    } catch (error) {
      if (signal.aborted) {
        if (call !== undefined) {
          await this.abandonCall(call, 'canceled', `the render was aborted: ${describe(signal.reason)}`);
        }
        throw abortedError(signal);
      }
      const engineError = toEngineError(`${this.name} call`, error);
      if (call !== undefined) {
        await this.recordFailure(call, engineError);
      }
      throw engineError;
    } finally {
      if (call !== undefined) {
        this.awaitedCalls.delete(call.id);
      }
      release();
    }
  }

  private async findOrStartCall(input: RenderInput, plan: CallPlan, signal: AbortSignal): Promise<EngineCallRow> {
    const slot = {
      engine: this.name,
      jobId: input.jobId,
      packName: input.packName,
      promptIndex: input.promptIndex,
      batchIndex: plan.batchIndex,
      seed: plan.seed,
    };
    const existing = await this.calls.findResumableCall(slot);
    if (existing !== undefined) {
      this.logger.info(
        { engine: this.name, providerId: existing.provider_id, jobId: input.jobId, packName: input.packName, promptIndex: input.promptIndex },
        'resuming an engine call started by an earlier attempt',
      );
      return existing;
    }

    const created = await this.createProviderCall(input, plan, signal);
    const now = this.clock.now();
    const call = await this.calls.insertCall({
      id: randomUUID(),
      ...slot,
      providerId: created.providerId,
      imageCount: plan.imageCount,
      providerStatus: created.providerStatus,
      createdAt: now,
      deadlineAt: now + this.limits.callTimeoutMs,
    });
    await this.calls.recordTaskProviderId(input.jobId, input.packName, input.promptIndex, created.providerId);
    this.logger.info(
      {
        engine: this.name,
        providerId: created.providerId,
        jobId: input.jobId,
        packName: input.packName,
        promptIndex: input.promptIndex,
        batchIndex: plan.batchIndex,
      },
      'engine call started',
    );
    return call;
  }

  private async recordSuccess(call: EngineCallRow, images: RenderedImage[]): Promise<void> {
    const now = this.clock.now();
    await this.calls.updateOpenCall(call.id, {
      status: 'succeeded',
      output_count: images.length,
      completed_at: now,
      updated_at: now,
    });
    this.logger.info(
      { engine: this.name, providerId: call.provider_id, jobId: call.job_id, images: images.length, durationMs: now - call.created_at },
      'engine call succeeded',
    );
  }

  private async recordFailure(call: EngineCallRow, error: EngineError): Promise<void> {
    const now = this.clock.now();
    // A call that succeeded but whose outputs could not be read is failed too, so no retry resumes it.
    await this.calls.updateCallInStatus(call.id, ['queued', 'processing', 'succeeded'], {
      status: 'failed',
      error: truncate(error.message),
      retryable: error.retryable ? 1 : 0,
      completed_at: now,
      updated_at: now,
    });
    this.logger.warn(
      { engine: this.name, providerId: call.provider_id, jobId: call.job_id, retryable: error.retryable, error: error.message },
      'engine call failed',
    );
  }

  private checkImageCount(input: RenderInput, images: RenderedImage[]): RenderedImage[] {
    if (images.length < input.imageCount) {
      this.logger.warn(
        { engine: this.name, jobId: input.jobId, packName: input.packName, promptIndex: input.promptIndex, expected: input.imageCount, received: images.length },
        'engine returned fewer images than requested',
      );
    }
    return images.slice(0, input.imageCount);
  }
}

function describe(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
