import type { EngineCallRow } from '../../database/schema.js';
import type { EngineError, PrepareInput, RenderedImage, RenderInput } from '../generation-engine.js';
import {
  classifyProviderFailure,
  permanentError,
  retryableError,
  toEngineError,
  truncate,
  USER_MESSAGES,
} from '../remote/failures.js';
import { sleep } from '../remote/http.js';
import { loadReferencePhoto, rankReferencePhotos, toRenderedImage } from '../remote/images.js';
import { type CallPlan, RemoteEngine, type RemoteEngineDependencies, type RemoteEngineLimits } from '../remote/remote-engine.js';
import { fillTemplate, type TemplateUsage } from '../remote/templates.js';
import { ComfyUiClient, type ComfyUiFile, type HistoryEntry } from './comfyui-client.js';
import { type ComfyUiEvent, ComfyUiEventStream } from './comfyui-events.js';
import type { ParsedWorkflow, Workflow } from './workflow.js';

/** Subfolder of ComfyUI's input folder that holds the reference photos this server uploads. */
const UPLOAD_SUBFOLDER = 'envision';
/** How long queuing a prompt waits for the websocket to open, so its first messages are not missed. */
const SOCKET_READY_TIMEOUT_MS = 2_000;

export interface ComfyUiEngineOptions {
  baseUrl: string;
  /** Extra request headers, such as a reverse proxy's token. Sent on every request and the websocket. */
  headers: Record<string, string>;
  workflow: ParsedWorkflow;
  requestTimeoutMs: number;
  /** How often a waiting render reads `/history`, besides waking on websocket messages. */
  historyPollMs: number;
  limits: RemoteEngineLimits;
}

/** Preparation stored for a job: the names of its reference photos in ComfyUI's input folder. */
interface ComfyUiPreparation {
  referenceImages: string[];
}

type HistoryOutcome =
  | { kind: 'pending'; startedAt: number | undefined }
  | { kind: 'succeeded'; files: ComfyUiFile[]; startedAt: number | undefined }
  | { kind: 'failed'; error: EngineError };

/**
 * Renders with a self-hosted ComfyUI server: uploads a job's reference photos once, then queues the
 * configured workflow per prompt with its placeholders filled, follows it over the websocket and
 * `/history`, and downloads the outputs with `/view`.
 */
export class ComfyUiEngine extends RemoteEngine {
  readonly name = 'comfyui';
  readonly minimumPhotos: number;
  protected readonly usage: TemplateUsage;
  private readonly workflow: Workflow;
  private readonly client: ComfyUiClient;
  private readonly events: ComfyUiEventStream;

  constructor(
    dependencies: RemoteEngineDependencies,
    private readonly options: ComfyUiEngineOptions,
  ) {
    super(dependencies, options.limits);
    this.workflow = options.workflow.workflow;
    this.usage = options.workflow.usage;
    this.minimumPhotos = this.usage.referenceImageCount > 0 ? 1 : 0;
    this.client = new ComfyUiClient({
      baseUrl: options.baseUrl,
      headers: options.headers,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    this.events = new ComfyUiEventStream({ baseUrl: options.baseUrl, headers: options.headers, logger: dependencies.logger });
  }

  async prepare(input: PrepareInput): Promise<ComfyUiPreparation> {
    const wanted = this.usage.referenceImageCount;
    if (wanted === 0) {
      return { referenceImages: [] };
    }
    const photos = rankReferencePhotos(input.photos).slice(0, wanted);
    if (photos.length === 0) {
      throw permanentError(`job ${input.jobId} has no photos to use as references`, USER_MESSAGES.noFace);
    }

    const referenceImages: string[] = [];
    for (const photo of photos) {
      const data = await loadReferencePhoto(input.storage, photo);
      const name = await this.client
        .uploadImage(data, `${input.jobId}-${photo.id}.jpg`, UPLOAD_SUBFOLDER, input.signal)
        .catch((error: unknown) => {
          throw toEngineError('ComfyUI image upload', error);
        });
      referenceImages.push(name);
    }
    this.logger.info({ engine: this.name, jobId: input.jobId, photos: referenceImages.length }, 'reference photos uploaded to ComfyUI');
    return { referenceImages };
  }

  override async close(): Promise<void> {
    this.events.close();
    await super.close();
  }

  protected async createProviderCall(input: RenderInput, plan: CallPlan, signal: AbortSignal) {
    const workflow = fillTemplate(this.workflow, {
      prompt: input.prompt,
      negativePrompt: input.negativePrompt,
      seed: plan.seed,
      imageCount: plan.imageCount,
      referenceImages: readPreparation(input.preparation).referenceImages,
    });
    await this.events.ready(SOCKET_READY_TIMEOUT_MS);
    const promptId = await this.client.queuePrompt(workflow, this.events.clientId, signal);
    return { providerId: promptId, providerStatus: 'queued' };
  }

  protected async awaitProviderCall(call: EngineCallRow, _input: RenderInput, signal: AbortSignal): Promise<RenderedImage[]> {
    let failureEvent: ComfyUiEvent | undefined;
    let wake: (() => void) | undefined;
    let started = call.started_at !== null;
    const unwatch = this.events.watch(call.provider_id, (event) => {
      if (event.type === 'execution_start' && !started) {
        started = true;
        void this.markStarted(call, timestampOf(event.data) ?? this.clock.now());
      }
      if (event.type === 'execution_error' || event.type === 'execution_interrupted') {
        failureEvent = event;
      }
      // Any other news (success, the end of execution, a lost connection) is checked against /history.
      if (event.type !== 'progress' && event.type !== 'executed' && event.type !== 'execution_cached') {
        wake?.();
      }
    });

    try {
      for (;;) {
        if (failureEvent !== undefined) {
          throw failureFromMessage(failureEvent.type, failureEvent.data);
        }
        const outcome = await this.readOutcome(call, signal);
        if (outcome.kind === 'failed') {
          throw outcome.error;
        }
        if (outcome.startedAt !== undefined && !started) {
          started = true;
          await this.markStarted(call, outcome.startedAt);
        }
        if (outcome.kind === 'succeeded') {
          return await this.downloadOutputs(call, outcome.files, signal);
        }
        const woken = new Promise<void>((resolve) => {
          wake = resolve;
        });
        await Promise.race([woken, sleep(this.options.historyPollMs, signal)]);
        wake = undefined;
      }
    } finally {
      unwatch();
    }
  }

  protected async cancelProviderCall(call: EngineCallRow): Promise<void> {
    const signal = AbortSignal.timeout(this.options.requestTimeoutMs);
    const position = await this.client.queuePosition(call.provider_id, signal);
    if (position === 'pending') {
      await this.client.deletePending(call.provider_id, signal);
    } else if (position === 'running') {
      await this.client.interrupt(call.provider_id, signal);
    }
  }

  protected async refreshProviderCall(call: EngineCallRow, signal: AbortSignal): Promise<void> {
    const outcome = await this.readOutcome(call, signal);
    const now = this.clock.now();
    if (outcome.kind === 'succeeded') {
      await this.calls.updateOpenCall(call.id, {
        status: 'succeeded',
        provider_status: 'success',
        output_count: outcome.files.length,
        completed_at: now,
        updated_at: now,
      });
    } else if (outcome.kind === 'failed') {
      await this.calls.updateOpenCall(call.id, {
        status: 'failed',
        provider_status: 'error',
        error: truncate(outcome.error.message),
        retryable: outcome.error.retryable ? 1 : 0,
        completed_at: now,
        updated_at: now,
      });
    } else if ((await this.client.queuePosition(call.provider_id, signal)) === 'absent') {
      // Neither queued nor in the history: ComfyUI restarted and lost it.
      await this.calls.updateOpenCall(call.id, {
        status: 'failed',
        error: 'ComfyUI has no record of this prompt; it was probably restarted',
        retryable: 1,
        completed_at: now,
        updated_at: now,
      });
    }
  }

  /** Reads the prompt's history entry. A failed request is no outcome: the next poll tries again. */
  private async readOutcome(call: EngineCallRow, signal: AbortSignal): Promise<HistoryOutcome> {
    let entry: HistoryEntry | undefined;
    try {
      entry = await this.client.getHistory(call.provider_id, signal);
    } catch (error) {
      signal.throwIfAborted();
      const engineError = toEngineError('ComfyUI GET /history', error);
      if (!engineError.retryable) {
        throw engineError;
      }
      this.logger.debug({ engine: this.name, providerId: call.provider_id, error: engineError.message }, 'reading ComfyUI history failed');
      return { kind: 'pending', startedAt: undefined };
    }
    return interpretHistory(entry);
  }

  private async downloadOutputs(call: EngineCallRow, files: ComfyUiFile[], signal: AbortSignal): Promise<RenderedImage[]> {
    if (files.length === 0) {
      throw permanentError(`ComfyUI prompt ${call.provider_id} finished without output images`, USER_MESSAGES.noImages);
    }
    const images: RenderedImage[] = [];
    for (const file of files.slice(0, call.image_count)) {
      const data = await this.client.downloadOutput(file, signal);
      images.push(await toRenderedImage(data, `ComfyUI output ${file.filename}`));
    }
    return images;
  }

  private async markStarted(call: EngineCallRow, startedAt: number): Promise<void> {
    await this.calls
      .updateCallInStatus(call.id, ['queued'], { status: 'processing', provider_status: 'running', started_at: startedAt, updated_at: this.clock.now() })
      .catch((error: unknown) => this.logger.warn({ err: error, providerId: call.provider_id }, 'recording a ComfyUI start failed'));
  }
}

function readPreparation(preparation: unknown): ComfyUiPreparation {
  const images = (preparation as Partial<ComfyUiPreparation> | null)?.referenceImages;
  if (!Array.isArray(images) || !images.every((name) => typeof name === 'string')) {
    throw permanentError('the job was not prepared for ComfyUI: no list of reference images');
  }
  return { referenceImages: images };
}

/** Reads a `/history` entry: no entry yet, finished with images, or failed. */
export function interpretHistory(entry: HistoryEntry | undefined): HistoryOutcome {
  if (entry === undefined) {
    return { kind: 'pending', startedAt: undefined };
  }
  const messages = entry.status?.messages ?? [];
  const started = messages.find(([name]) => name === 'execution_start');
  const startedAt = started === undefined ? undefined : timestampOf(started[1]);

  const failure = messages.find(([name]) => name === 'execution_error' || name === 'execution_interrupted');
  if (entry.status?.status_str === 'error' || failure !== undefined) {
    return { kind: 'failed', error: failureFromMessage(failure?.[0] ?? 'execution_error', failure?.[1] ?? {}) };
  }
  if (entry.status?.completed === true || entry.status?.status_str === 'success') {
    const files = Object.values(entry.outputs ?? {})
      .flatMap((output) => output.images ?? [])
      .filter((file) => file.type === 'output');
    return { kind: 'succeeded', files, startedAt };
  }
  return { kind: 'pending', startedAt };
}

/**
 * Classifies a failed run. Interruptions and running out of GPU memory can pass on a retry; a node that
 * raised anything else (a missing model, a photo without a face) fails the same way again.
 */
function failureFromMessage(type: string, data: Record<string, unknown>): EngineError {
  if (type === 'execution_interrupted') {
    return retryableError(`ComfyUI prompt ${String(data.prompt_id)} was interrupted at node ${String(data.node_id)}`);
  }
  const exceptionType = String(data.exception_type ?? 'unknown error');
  const exceptionMessage = String(data.exception_message ?? '').trim();
  const message = truncate(
    `ComfyUI node ${String(data.node_id)} (${String(data.node_type)}) raised ${exceptionType}: ${exceptionMessage}`,
  );
  if (/out ?of ?memory/i.test(`${exceptionType} ${exceptionMessage}`)) {
    return retryableError(message);
  }
  return permanentError(message, classifyProviderFailure(exceptionMessage)?.userMessage);
}

/** ComfyUI's event timestamps are milliseconds since the epoch. */
function timestampOf(data: Record<string, unknown>): number | undefined {
  return typeof data.timestamp === 'number' ? data.timestamp : undefined;
}
