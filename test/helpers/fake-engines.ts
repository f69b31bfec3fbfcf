import sharp from 'sharp';
import {
  EngineError,
  type GenerationEngine,
  type PrepareInput,
  type RenderInput,
  type RenderedImage,
} from '../../src/adapters/engines/generation-engine.js';

/** How a scripted engine answers one render call; `call` counts the calls for the same pack and prompt from 1. */
export type RenderBehavior = (input: RenderInput, call: number) => Promise<RenderedImage[]>;

const tinyJpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 120, b: 40 } } })
  .jpeg()
  .toBuffer();

/** `count` small JPEGs whose bytes differ by prompt, image and seed, so a test can tell them apart. */
export function tinyImages(input: Pick<RenderInput, 'imageCount' | 'promptIndex' | 'seed'>): RenderedImage[] {
  return Array.from({ length: input.imageCount }, (_, imageIndex) => ({
    data: Buffer.concat([tinyJpeg, Buffer.from(`${input.promptIndex}-${imageIndex}-${input.seed}`)]),
    contentType: 'image/jpeg' as const,
    width: 8,
    height: 8,
  }));
}

export const succeeds: RenderBehavior = async (input) => tinyImages(input);

/** Fails the first call of every prompt with a retryable error, then succeeds. */
export const failsOnce: RenderBehavior = async (input, call) => {
  if (call === 1) {
    throw new EngineError('provider returned 503', true, 'The image generator is busy.');
  }
  return tinyImages(input);
};

/** Fails every call with a retryable error, so the task uses up its attempts. */
export const alwaysFails: RenderBehavior = async () => {
  throw new EngineError('provider returned 500', true, 'The image generator is out of order.');
};

/** Never settles the first call of every prompt and ignores its signal, like a hung provider; then succeeds. */
export const hangsOnce: RenderBehavior = async (input, call) => {
  if (call === 1) {
    return new Promise<RenderedImage[]>(() => undefined);
  }
  return tinyImages(input);
};

/** Rejects prompt 1 for good and renders the others. */
export const rejectsSecondPrompt: RenderBehavior = async (input) => {
  if (input.promptIndex === 1) {
    throw new EngineError('content policy', false, 'This prompt was refused by the image generator.');
  }
  return tinyImages(input);
};

/** Waits for `release()` before returning images, so a test can act while tasks are in flight. */
export function gatedBehavior(): { behavior: RenderBehavior; release(): void; started: Promise<void>; signals: AbortSignal[] } {
  const signals: AbortSignal[] = [];
  let release!: () => void;
  let markStarted!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  return {
    behavior: async (input) => {
      signals.push(input.signal);
      markStarted();
      await gate;
      return tinyImages(input);
    },
    release,
    started,
    signals,
  };
}

/**
 * A generation engine whose renders follow the behavior set for each pack (`succeeds` by default). It
 * counts calls, so tests can check retries and that a job is prepared once.
 */
export class ScriptedEngine implements GenerationEngine {
  readonly behaviors = new Map<string, RenderBehavior>();
  readonly renderCalls = new Map<string, number>();
  readonly prepareCalls: string[] = [];

  constructor(
    readonly name = 'local',
    readonly minimumPhotos = 1,
  ) {}

  async prepare(input: PrepareInput): Promise<unknown> {
    this.prepareCalls.push(input.jobId);
    return { photos: input.photos.map((photo) => photo.id) };
  }

  async render(input: RenderInput): Promise<RenderedImage[]> {
    const key = `${input.jobId}/${input.packName}/${input.promptIndex}`;
    const call = (this.renderCalls.get(key) ?? 0) + 1;
    this.renderCalls.set(key, call);
    const behavior = this.behaviors.get(input.packName) ?? succeeds;
    return behavior(input, call);
  }

  callsFor(jobId: string, packName: string): number[] {
    return [...this.renderCalls.entries()]
      .filter(([key]) => key.startsWith(`${jobId}/${packName}/`))
      .map(([, calls]) => calls);
  }
}
