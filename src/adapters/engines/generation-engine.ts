import type { ObjectStorage } from '../storage/object-storage.js';

/** A face's bounding box in pixels of the stored photo. */
export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One accepted photo of a job, as engines see it. */
export interface EnginePhoto {
  id: string;
  storageKey: string;
  width: number;
  height: number;
  faceBox: FaceBox | null;
}

export interface PrepareInput {
  jobId: string;
  photos: EnginePhoto[];
  storage: ObjectStorage;
  signal: AbortSignal;
}

export interface RenderInput {
  jobId: string;
  packName: string;
  promptIndex: number;
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  imageCount: number;
  /** The result of `prepare` for this job, read back from the database. */
  preparation: unknown;
  storage: ObjectStorage;
  signal: AbortSignal;
}

export interface RenderedImage {
  data: Buffer;
  contentType: 'image/jpeg' | 'image/png' | 'image/webp';
  width: number;
  height: number;
}

/**
 * Turns a job's photos and a prompt into images. `prepare` runs once per job and engine (building a face
 * reference or training an identity); its JSON result is stored and handed to every `render` of the job.
 * Both must honour `signal`, which aborts when the task's deadline passes or the job is deleted.
 */
export interface GenerationEngine {
  readonly name: string;
  /** Fewest accepted photos a job needs before a pack can start on this engine. */
  readonly minimumPhotos: number;
  /**
   * Maximum duration of a task attempt on this engine, in milliseconds, for engines whose own deadline
   * is longer than the pipeline's TASK_TIMEOUT_MS. The pipeline uses the larger of the two.
   */
  readonly taskTimeoutMs?: number;
  prepare(input: PrepareInput): Promise<unknown>;
  render(input: RenderInput): Promise<RenderedImage[]>;
}

/**
 * A failed engine call. `retryable` failures (timeouts, rate limits, provider outages) are retried with
 * backoff; the others end the task, and `userMessage` is what the user is shown.
 */
export class EngineError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly userMessage: string = 'The image generator could not render this prompt.',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EngineError';
  }
}
