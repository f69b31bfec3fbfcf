import { EventEmitter } from 'node:events';
import { buffer as readStream } from 'node:stream/consumers';
import Replicate from 'replicate';
import type { EngineCallRow } from '../../database/schema.js';
import { type ObjectStorage, StorageNotFoundError } from '../../storage/object-storage.js';
import { EngineError, type EnginePhoto, type PrepareInput, type RenderedImage, type RenderInput } from '../generation-engine.js';
import { httpStatusError, permanentError, retryableError, toEngineError, truncate, USER_MESSAGES } from '../remote/failures.js';
import { readBody, sleep } from '../remote/http.js';
import { loadReferencePhoto, rankReferencePhotos, toRenderedImage } from '../remote/images.js';
import { type CallPlan, RemoteEngine, type RemoteEngineDependencies, type RemoteEngineLimits } from '../remote/remote-engine.js';
import { fillTemplate, type TemplateUsage } from '../remote/templates.js';
import {
  FINAL_STATUSES,
  type ModelReference,
  parseModelReference,
  NO_OUTPUT_ERROR,
  OUTPUTS_EXPIRED_ERROR,
  outputUrls,
  parsePrediction,
  parsePredictionJson,
  parseTime,
  type Prediction,
  predictionFailure,
  userMessageFor,
} from './prediction.js';
import { type SignedDelivery, verifyWebhookSignature } from './webhook-signature.js';

/** How often a waiting render re-reads its call's row, to see webhooks that another process received. */
const ROW_POLL_MS = 1_000;
/** At most this many photos go into a `{{reference_images}}` list, to keep request bodies small. */
const MAX_REFERENCE_LIST = 8;
/** How long signed photo URLs handed to Replicate stay valid. */
const SIGNED_URL_SECONDS = 3_600;

export interface ReplicateEngineOptions {
  apiToken: string;
  /** The API's base URL, `https://api.replicate.com/v1` unless a test points it at a fake. */
  baseUrl: string;
  /** `owner/name` (the model's latest version) or `owner/name:version`. */
  model: string;
  /** The model's input object with placeholders, and what it uses. */
  input: { template: unknown; usage: TemplateUsage };
  /** Webhook URL for Replicate's deliveries. Without one the engine only polls. */
  webhookUrl: string | undefined;
  /** The `whsec_` secret that signs webhooks. */
  webhookSecret: string | undefined;
  /** Form of the reference photos sent to the model: inline data URIs, or signed URLs of our storage. */
  imageInput: 'data-uri' | 'signed-url';
  requestTimeoutMs: number;
  /** A render with no webhook update for this long queries Replicate itself. */
  pollIntervalMs: number;
  limits: RemoteEngineLimits;
  /** Storage for outputs copied when a webhook arrives; without it the waiting render copies them. */
  storage?: ObjectStorage;
  /** Replaces global fetch in the replicate client. */
  fetch?: typeof fetch;
}

/** Preparation stored for a job: the photos to send as references, best first. */
interface ReplicatePreparation {
  photos: Array<Pick<EnginePhoto, 'id' | 'storageKey'>>;
}

export type WebhookOutcome = 'processed' | 'duplicate' | 'ignored';

/**
 * Renders with a model hosted on Replicate. Each call is a prediction created with a webhook; the webhook
 * (or, when it does not come, a poll) records the result and copies the outputs into our storage at once,
 * because Replicate deletes API outputs after an hour. Renders wait on the `engine_calls` row.
 */
export class ReplicateEngine extends RemoteEngine {
  readonly name = 'replicate';
  readonly minimumPhotos: number;
  protected readonly usage: TemplateUsage;
  private readonly client: Replicate;
  private readonly model: ModelReference;
  /** Emits a prediction id when its row changed in this process, to wake the render waiting on it. */
  private readonly changes = new EventEmitter().setMaxListeners(0);

  constructor(
    dependencies: RemoteEngineDependencies,
    private readonly options: ReplicateEngineOptions,
  ) {
    super(dependencies, options.limits);
    this.usage = options.input.usage;
    this.minimumPhotos = this.usage.referenceImageCount > 0 || this.usage.usesReferenceList ? 1 : 0;
    this.model = parseModelReference(options.model);
    // NOTE: the client (1.4.0) repeats a POST that got HTTP 429 up to five times without waiting;
    // the task's own retry with backoff handles what is left.
    this.client = new Replicate({
      auth: options.apiToken,
      baseUrl: options.baseUrl,
      userAgent: 'envision-backend',
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
  }

  get webhooksEnabled(): boolean {
    return this.options.webhookUrl !== undefined && this.options.webhookSecret !== undefined;
  }

  async prepare(input: PrepareInput): Promise<ReplicatePreparation> {
    const wanted = this.usage.usesReferenceList ? MAX_REFERENCE_LIST : this.usage.referenceImageCount;
    const photos = rankReferencePhotos(input.photos).slice(0, wanted);
    if (wanted > 0 && photos.length === 0) {
      throw permanentError(`job ${input.jobId} has no photos to use as references`, USER_MESSAGES.noFace);
    }
    return { photos: photos.map((photo) => ({ id: photo.id, storageKey: photo.storageKey })) };
  }

  /**
   * Verifies and applies one webhook delivery. Throws a WebhookSignatureError for a bad signature or a
   * stale timestamp, and an InvalidPredictionError when the body is not a prediction. A delivery whose `webhook-id`
   * was processed before changes nothing.
   */
  async receiveWebhook(delivery: SignedDelivery): Promise<WebhookOutcome> {
    if (this.options.webhookSecret === undefined) {
      throw new Error('Replicate webhooks are not configured: REPLICATE_WEBHOOK_SECRET is not set');
    }
    verifyWebhookSignature(delivery, this.options.webhookSecret, this.clock.now());
    const webhookId = delivery.id!;
    if (await this.calls.webhookEventExists(webhookId)) {
      return 'duplicate';
    }

    const prediction = parsePredictionJson(delivery.body);
    const call = await this.calls.findCallByProviderId(this.name, prediction.id);
    if (call === undefined) {
      // Not recorded, so a redelivery after our row exists is applied; the poll catches it otherwise.
      this.logger.warn({ engine: this.name, providerId: prediction.id, webhookId }, 'webhook for an unknown prediction ignored');
      return 'ignored';
    }

    await this.calls.markWebhookReceived(call.id, this.clock.now());
    await this.applyPrediction(call, prediction, this.options.storage, AbortSignal.timeout(this.options.requestTimeoutMs * 4));
    await this.calls.insertWebhookEvent({
      webhookId,
      predictionId: prediction.id,
      providerStatus: prediction.status,
      receivedAt: this.clock.now(),
    });
    return 'processed';
  }

  protected async createProviderCall(input: RenderInput, plan: CallPlan, signal: AbortSignal) {
    const preparation = readPreparation(input.preparation);
    const referenceImages = await Promise.all(preparation.photos.map((photo) => this.referenceValue(input.storage, photo)));
    const modelInput = fillTemplate(this.options.input.template, {
      prompt: input.prompt,
      negativePrompt: input.negativePrompt,
      seed: plan.seed,
      imageCount: plan.imageCount,
      referenceImages,
    }) as object;

    const webhook: { webhook?: string; webhook_events_filter?: Array<'start' | 'completed'> } = this.webhooksEnabled
      ? { webhook: this.options.webhookUrl!, webhook_events_filter: ['start', 'completed'] }
      : {};
    const prediction = await this.clientCall('Replicate create prediction', signal, (requestSignal) =>
      this.client.predictions.create({ ...this.model, input: modelInput, ...webhook, signal: requestSignal }),
    );
    return { providerId: prediction.id, providerStatus: prediction.status };
  }

  protected async awaitProviderCall(call: EngineCallRow, input: RenderInput, signal: AbortSignal): Promise<RenderedImage[]> {
    let lastAsked = Math.max(call.created_at, call.checked_at ?? 0);
    for (;;) {
      const row = await this.calls.findCallById(call.id);
      if (row === undefined) {
        throw retryableError(`the record of prediction ${call.provider_id} disappeared`);
      }
      if (row.status === 'succeeded') {
        return this.readCopiedOutputs(row, input.storage);
      }
      if (row.status === 'failed' || row.status === 'canceled') {
        const error = row.error ?? `the prediction ${row.status}`;
        const retryable = row.status === 'canceled' || row.retryable !== 0;
        throw new EngineError(`Replicate prediction ${row.provider_id}: ${error}`, retryable, userMessageFor(error, retryable));
      }

      // The provider is asked when no webhook has brought news for a while, and whenever a prediction
      // succeeded but its outputs are not copied yet (the webhook arrived where no storage was set up).
      const now = this.clock.now();
      if (now - Math.max(lastAsked, row.updated_at) >= this.options.pollIntervalMs || row.provider_status === 'succeeded') {
        lastAsked = now;
        await this.refreshWith(row, input.storage, signal);
        continue;
      }
      await this.waitForChange(call.provider_id, Math.min(ROW_POLL_MS, this.options.pollIntervalMs), signal);
    }
  }

  protected async cancelProviderCall(call: EngineCallRow): Promise<void> {
    await this.clientCall('Replicate cancel prediction', AbortSignal.timeout(this.options.requestTimeoutMs), (requestSignal) =>
      this.client.predictions.cancel(call.provider_id, { signal: requestSignal }),
    );
  }

  protected async refreshProviderCall(call: EngineCallRow, signal: AbortSignal): Promise<void> {
    await this.refreshWith(call, this.options.storage, signal);
  }

  /** Fetches the prediction from Replicate and applies its status. */
  private async refreshWith(call: EngineCallRow, storage: ObjectStorage | undefined, signal: AbortSignal): Promise<void> {
    const prediction = await this.clientCall('Replicate get prediction', signal, (requestSignal) =>
      this.client.predictions.get(call.provider_id, { signal: requestSignal }),
    );
    await this.calls.markChecked(call.id, this.clock.now());
    if (FINAL_STATUSES.has(prediction.status) && call.webhook_received_at === null && this.webhooksEnabled) {
      this.logger.info({ engine: this.name, providerId: call.provider_id, status: prediction.status }, 'prediction ended without a webhook; found by polling');
    }
    await this.applyPrediction(call, parsePrediction(prediction), storage, signal);
  }

  /**
   * Records a prediction's status, the same way for webhooks and polls, so applying it twice changes
   * nothing. A succeeded prediction's outputs are copied into `storage` before the call is marked
   * succeeded; without storage only the provider status is noted, and the waiting render copies them.
   */
  private async applyPrediction(call: EngineCallRow, prediction: Prediction, storage: ObjectStorage | undefined, signal: AbortSignal): Promise<void> {
    const now = this.clock.now();
    const timings = {
      provider_status: prediction.status,
      started_at: parseTime(prediction.started_at) ?? call.started_at,
      updated_at: now,
    };
    let changed: boolean;

    if (prediction.status === 'succeeded') {
      if (storage === undefined) {
        changed = await this.calls.updateOpenCall(call.id, timings);
      } else {
        changed = await this.completeWithOutputs(call, prediction, storage, signal);
      }
    } else if (FINAL_STATUSES.has(prediction.status)) {
      const failure = predictionFailure(prediction);
      changed = await this.calls.updateOpenCall(call.id, {
        ...timings,
        status: 'failed',
        error: failure.error,
        retryable: failure.retryable ? 1 : 0,
        completed_at: parseTime(prediction.completed_at) ?? now,
      });
    } else {
      const status = prediction.status === 'processing' ? 'processing' : 'queued';
      changed = await this.calls.updateOpenCall(call.id, { ...timings, status });
    }

    if (changed) {
      this.changes.emit(prediction.id);
    }
  }

  private async completeWithOutputs(call: EngineCallRow, prediction: Prediction, storage: ObjectStorage, signal: AbortSignal): Promise<boolean> {
    const now = this.clock.now();
    const urls = outputUrls(prediction.output).slice(0, call.image_count);
    const ended = {
      provider_status: prediction.status,
      started_at: parseTime(prediction.started_at) ?? call.started_at,
      completed_at: parseTime(prediction.completed_at) ?? now,
      predict_time_ms: typeof prediction.metrics?.predict_time === 'number' ? Math.round(prediction.metrics.predict_time * 1000) : null,
      updated_at: now,
    };
    if (urls.length === 0) {
      return this.calls.updateOpenCall(call.id, { ...ended, status: 'failed', error: NO_OUTPUT_ERROR, retryable: 0 });
    }

    const keys: string[] = [];
    for (const [index, url] of urls.entries()) {
      const data = await this.downloadOutput(url, signal);
      if (data === undefined) {
        return this.calls.updateOpenCall(call.id, { ...ended, status: 'failed', error: OUTPUTS_EXPIRED_ERROR, retryable: 1 });
      }
      const image = await toRenderedImage(data, `Replicate output ${index} of ${prediction.id}`);
      const key = `jobs/${call.job_id}/engine-outputs/replicate/${prediction.id}/${index}.${image.contentType.slice('image/'.length)}`;
      await storage.put(key, image.data, image.contentType);
      keys.push(key);
    }
    this.logger.info({ engine: this.name, providerId: prediction.id, jobId: call.job_id, outputs: keys.length }, 'prediction outputs copied into storage');
    return this.calls.updateOpenCall(call.id, {
      ...ended,
      status: 'succeeded',
      output_keys: JSON.stringify(keys),
      output_count: keys.length,
    });
  }

  /** Downloads one output. Returns undefined when the URL no longer serves it (403, 404 or 410). */
  private async downloadOutput(url: string, signal: AbortSignal): Promise<Buffer | undefined> {
    const dataUri = /^data:[^;,]*;base64,(.*)$/s.exec(url);
    if (dataUri !== null) {
      return Buffer.from(dataUri[1]!, 'base64');
    }
    let response: Response;
    try {
      // No Authorization header: output URLs are signed for anyone and often on another host.
      response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.requestTimeoutMs)]) });
    } catch (error) {
      signal.throwIfAborted();
      throw toEngineError('Replicate output download', error);
    }
    if (response.status === 403 || response.status === 404 || response.status === 410) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw httpStatusError('Replicate output download', response.status, '');
    }
    return readBody('Replicate output download', response);
  }

  private async readCopiedOutputs(call: EngineCallRow, storage: ObjectStorage): Promise<RenderedImage[]> {
    const keys = JSON.parse(call.output_keys ?? '[]') as string[];
    const images: RenderedImage[] = [];
    for (const key of keys) {
      try {
        const stored = await storage.get(key);
        images.push(await toRenderedImage(await readStream(stored.body), `copied output ${key}`));
      } catch (error) {
        if (error instanceof StorageNotFoundError) {
          throw retryableError(`the copied output ${key} of prediction ${call.provider_id} is gone from storage`);
        }
        throw error;
      }
    }
    return images;
  }

  private async waitForChange(predictionId: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
    let onChange: (() => void) | undefined;
    const changed = new Promise<void>((resolve) => {
      onChange = resolve;
      this.changes.once(predictionId, resolve);
    });
    try {
      await Promise.race([changed, sleep(timeoutMs, signal)]);
    } finally {
      this.changes.off(predictionId, onChange!);
    }
  }

  private async referenceValue(storage: ObjectStorage, photo: ReplicatePreparation['photos'][number]): Promise<string> {
    if (this.options.imageInput === 'signed-url') {
      const url = await storage.signedUrl(photo.storageKey, SIGNED_URL_SECONDS);
      if (!/^https?:\/\//.test(url)) {
        throw permanentError(`storage returned "${url}" for a photo, but Replicate needs an absolute URL; set PUBLIC_BASE_URL or use REPLICATE_IMAGE_INPUT=data-uri`);
      }
      return url;
    }
    const jpeg = await loadReferencePhoto(storage, { ...photo, width: 0, height: 0, faceBox: null });
    return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
  }

  /**
   * Runs one replicate client call with the request timeout. The client's errors carry the request with
   * its Authorization header, so they are replaced by EngineErrors built from the status and body only.
   */
  private async clientCall<T>(what: string, signal: AbortSignal, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await call(AbortSignal.any([signal, AbortSignal.timeout(this.options.requestTimeoutMs)]));
    } catch (error) {
      signal.throwIfAborted();
      const response = (error as { response?: unknown }).response;
      if ((error as Error).name === 'ApiError' && response instanceof Response) {
        const detail = /failed with status \d+[^:]*: ([\s\S]*)\.$/.exec((error as Error).message)?.[1] ?? '';
        throw httpStatusError(what, response.status, truncate(detail.trim(), 300));
      }
      throw toEngineError(what, error instanceof Error ? new Error(error.message) : error);
    }
  }
}

function readPreparation(preparation: unknown): ReplicatePreparation {
  const photos = (preparation as Partial<ReplicatePreparation> | null)?.photos;
  if (!Array.isArray(photos) || !photos.every((photo) => typeof photo?.storageKey === 'string')) {
    throw permanentError('the job was not prepared for Replicate: no list of reference photos');
  }
  return { photos };
}
