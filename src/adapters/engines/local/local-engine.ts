import type { Config } from '../../../config/config.js';
import {
  EngineError,
  type GenerationEngine,
  type PrepareInput,
  type RenderedImage,
  type RenderInput,
} from '../generation-engine.js';
import { abortedError } from '../remote/failures.js';
import { composeImage, OUTPUT_SIDE } from './compose.js';
import { lookForPack } from './looks.js';
import { planScene, planShot, portraitIndexFor } from './plan.js';
import { type LocalPreparation, parsePreparation, type PreparedPortrait } from './preparation.js';
import { preparePortrait } from './portraits.js';
import { messageOf, readStoredObject } from './stored-objects.js';

/** Maximum number of images per `render` call. Packs render a handful per prompt. */
export const MAX_IMAGES_PER_RENDER = 32;

export interface LocalEngineOptions {
  /**
   * Fewest accepted photos a job needs, at least 1. The engine itself works from one photo; a deployment
   * can raise the number (LOCAL_ENGINE_MIN_PHOTOS) to match the engine it uses in production.
   */
  minimumPhotos: number;
}

/**
 * The engine that needs no model: it builds each image from the user's own photos with sharp on the CPU,
 * framed on the face and styled with the pack's look. It is not a diffusion model. It exists so the whole
 * product runs offline, in tests and in development. The same inputs always give the same bytes.
 */
export class LocalEngine implements GenerationEngine {
  readonly name = 'local';
  readonly minimumPhotos: number;

  constructor(options: LocalEngineOptions) {
    const { minimumPhotos } = options;
    if (!Number.isSafeInteger(minimumPhotos) || minimumPhotos < 1) {
      throw new RangeError(`minimumPhotos must be a whole number of at least 1, got ${minimumPhotos}`);
    }
    this.minimumPhotos = minimumPhotos;
  }

  /**
   * Cuts a face-centred square portrait of every photo and stores it under
   * `jobs/<jobId>/engines/local/portraits/<photoId>.jpg`. Returns a LocalPreparation listing them.
   * Running it again overwrites the same keys with the same bytes.
   */
  prepare(input: PrepareInput): Promise<LocalPreparation> {
    return rejectAbortsAsEngineErrors(input.signal, () => this.preparePortraits(input));
  }

  /**
   * Renders `imageCount` images for one prompt. Each image uses a prepared portrait (consecutive images take
   * different photos when the job has several) and the pack's look, varied by the prompt and the seed.
   */
  render(input: RenderInput): Promise<RenderedImage[]> {
    return rejectAbortsAsEngineErrors(input.signal, () => this.renderImages(input));
  }

  private async preparePortraits(input: PrepareInput): Promise<LocalPreparation> {
    const { jobId, photos, storage, signal } = input;
    signal.throwIfAborted();
    if (photos.length === 0) {
      throw new EngineError(`Job ${jobId} has no photos to prepare`, false, 'Upload at least one photo of your face, then start the pack again.');
    }

    const portraits: PreparedPortrait[] = [];
    // One photo at a time keeps memory flat.
    for (const photo of photos) {
      portraits.push(await preparePortrait(jobId, photo, storage, signal));
    }
    return { version: 1, portraits };
  }

  private async renderImages(input: RenderInput): Promise<RenderedImage[]> {
    const { packName, prompt, negativePrompt, seed, imageCount, storage, signal } = input;
    signal.throwIfAborted();
    if (!Number.isSafeInteger(imageCount) || imageCount < 1 || imageCount > MAX_IMAGES_PER_RENDER) {
      throw new EngineError(`imageCount must be a whole number from 1 to ${MAX_IMAGES_PER_RENDER}, got ${imageCount}`, false);
    }
    if (!Number.isSafeInteger(seed)) {
      throw new EngineError(`seed must be a safe integer, got ${seed}`, false);
    }
    const preparation = parsePreparation(input.preparation);
    const look = lookForPack(packName);
    const scene = planScene(look, packName, prompt, negativePrompt);

    const portraitCache = new Map<string, Buffer>();
    const images: RenderedImage[] = [];
    for (let imageIndex = 0; imageIndex < imageCount; imageIndex += 1) {
      const portrait = preparation.portraits[portraitIndexFor(prompt, seed, imageIndex, preparation.portraits.length)]!;
      let portraitJpeg = portraitCache.get(portrait.storageKey);
      if (portraitJpeg === undefined) {
        portraitJpeg = await readStoredObject(
          storage,
          portrait.storageKey,
          {
            label: `prepared portrait of photo ${portrait.photoId}`,
            missingUserMessage: 'The photos prepared for this job are missing. Start the pack again.',
          },
          signal,
        );
        portraitCache.set(portrait.storageKey, portraitJpeg);
      }

      const shot = planShot(look, packName, prompt, seed, imageIndex);
      const data = await this.compose(portraitJpeg, portrait, look, scene, shot, signal);
      images.push({ data, contentType: 'image/jpeg', width: OUTPUT_SIDE, height: OUTPUT_SIDE });
    }
    return images;
  }

  private async compose(...args: Parameters<typeof composeImage>): Promise<Buffer> {
    const signal = args[5];
    try {
      return await composeImage(...args);
    } catch (error) {
      if (signal.aborted) {
        throw error;
      }
      // A corrupt portrait fails the same way every time; anything else (memory, a libvips fault) may pass.
      const corrupt = /corrupt|premature end|unsupported image format|VipsJpeg/i.test(messageOf(error));
      throw new EngineError(`Rendering the portrait of photo ${args[1].photoId} failed: ${messageOf(error)}`, !corrupt, undefined, {
        cause: error,
      });
    }
  }
}

/**
 * Runs `work` and, when `signal` has aborted by the time it fails, rejects with the same retryable
 * EngineError the remote engines throw on an abort. Inside, the engine uses `signal.throwIfAborted()`.
 */
async function rejectAbortsAsEngineErrors<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (signal.aborted) {
      throw abortedError(signal);
    }
    throw error;
  }
}

/** Builds the local engine from the configuration (LOCAL_ENGINE_MIN_PHOTOS). */
export function createLocalEngine(config: Pick<Config, 'engines'>): LocalEngine {
  return new LocalEngine({ minimumPhotos: config.engines.local.minimumPhotos });
}
