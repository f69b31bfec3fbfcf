import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { EngineError, type EnginePhoto, type FaceBox, type RenderInput } from '../../src/adapters/engines/generation-engine.js';
import { createLocalEngine, LocalEngine } from '../../src/adapters/engines/local/local-engine.js';
import { fixture } from '../helpers/images.js';
import { MemoryStorage } from '../helpers/memory-storage.js';

const ASTRONAUT = fixture('astronaut.png');

/**
 * The face in astronaut.png (512×512), measured once by eye on a zoomed crop: from the hairline to the
 * chin and from cheek to cheek.
 */
const ASTRONAUT_FACE: FaceBox = { x: 176, y: 72, width: 96, height: 112 };

const PACKS = [
  'neon',
  'gta',
  'historical',
  'fashion',
  'modern',
  'fantasy',
  'headshots',
  'characters',
  'science',
  'seven_wonders',
  'doppleganger',
  'old',
  'no_such_pack',
];

const SIDE = 1024;

const engine = new LocalEngine({ minimumPhotos: 1 });

interface Job {
  storage: MemoryStorage;
  preparation: unknown;
  photos: EnginePhoto[];
}

/** Stores the photos, runs `prepare` and returns what `render` needs. */
async function prepareJob(photos: Array<{ id: string; image: Buffer; faceBox: FaceBox | null }>, storage = new MemoryStorage()): Promise<Job> {
  const enginePhotos: EnginePhoto[] = [];
  for (const photo of photos) {
    const storageKey = `jobs/job-1/photos/${photo.id}.png`;
    await storage.put(storageKey, photo.image, 'image/png');
    const { width, height } = await sharp(photo.image).metadata();
    enginePhotos.push({ id: photo.id, storageKey, width: width!, height: height!, faceBox: photo.faceBox });
  }
  const preparation = await engine.prepare({ jobId: 'job-1', photos: enginePhotos, storage, signal: new AbortController().signal });
  return { storage, preparation, photos: enginePhotos };
}

function astronautJob(storage?: MemoryStorage): Promise<Job> {
  return prepareJob([{ id: 'photo-1', image: ASTRONAUT, faceBox: ASTRONAUT_FACE }], storage);
}

function renderInput(job: Job, overrides: Partial<RenderInput> = {}): RenderInput {
  return {
    jobId: 'job-1',
    packName: 'neon',
    promptIndex: 0,
    prompt: 'a portrait in a rainy city at night',
    negativePrompt: null,
    seed: 42,
    imageCount: 1,
    preparation: job.preparation,
    storage: job.storage,
    signal: new AbortController().signal,
    ...overrides,
  };
}

async function renderOne(job: Job, overrides: Partial<RenderInput> = {}): Promise<Buffer> {
  const [image] = await engine.render(renderInput(job, overrides));
  assert.ok(image !== undefined);
  return image.data;
}

/** Decodes to interleaved 8-bit RGB. */
async function pixels(image: Buffer): Promise<Buffer> {
  return sharp(image).removeAlpha().raw().toBuffer();
}

/** Mean absolute difference per channel value, 0–255. */
function meanDifference(first: Buffer, second: Buffer): number {
  let total = 0;
  for (let index = 0; index < first.length; index += 1) {
    total += Math.abs(first[index]! - second[index]!);
  }
  return total / first.length;
}

/** Per-channel 16-bin histograms, each normalised to sum 1, concatenated. */
function histogram(rgb: Buffer): number[] {
  const bins = new Array<number>(48).fill(0);
  for (let index = 0; index < rgb.length; index += 3) {
    for (let channel = 0; channel < 3; channel += 1) {
      bins[channel * 16 + (rgb[index + channel]! >> 4)]! += 1;
    }
  }
  return bins.map((count) => count / (rgb.length / 3));
}

/** Half the L1 distance between two histograms: 0 for the same colours, up to 3 for disjoint ones. */
function histogramDistance(first: number[], second: number[]): number {
  return first.reduce((sum, value, index) => sum + Math.abs(value - second[index]!), 0) / 2;
}

/** Mean RGB of a square region of a `width`-wide RGB image. */
function meanColour(rgb: Buffer, width: number, region: { left: number; top: number; side: number }): number[] {
  const sum = [0, 0, 0];
  for (let y = region.top; y < region.top + region.side; y += 1) {
    for (let x = region.left; x < region.left + region.side; x += 1) {
      for (let channel = 0; channel < 3; channel += 1) {
        sum[channel]! += rgb[(y * width + x) * 3 + channel]!;
      }
    }
  }
  return sum.map((total) => total / (region.side * region.side));
}

function colourDistance(first: number[], second: number[]): number {
  return Math.hypot(first[0]! - second[0]!, first[1]! - second[1]!, first[2]! - second[2]!);
}

describe('LocalEngine', () => {
  it('renders 1024×1024 JPEGs', async () => {
    const job = await astronautJob();
    const images = await engine.render(renderInput(job, { imageCount: 2 }));

    assert.equal(images.length, 2);
    for (const image of images) {
      assert.equal(image.contentType, 'image/jpeg');
      assert.equal(image.width, SIDE);
      assert.equal(image.height, SIDE);
      const metadata = await sharp(image.data).metadata();
      assert.equal(metadata.format, 'jpeg');
      assert.equal(metadata.width, SIDE);
      assert.equal(metadata.height, SIDE);
    }
  });

  it('gives the same bytes for the same inputs', async () => {
    const first = await astronautJob();
    const second = await astronautJob();

    assert.deepEqual(first.storage.keysUnder(''), second.storage.keysUnder(''));
    for (const key of first.storage.keysUnder('')) {
      assert.ok(first.storage.read(key)!.equals(second.storage.read(key)!), `prepared object ${key} differs`);
    }
    for (const packName of ['neon', 'characters', 'old']) {
      const one = await new LocalEngine({ minimumPhotos: 1 }).render(renderInput(first, { packName, imageCount: 2 }));
      const other = await new LocalEngine({ minimumPhotos: 1 }).render(renderInput(second, { packName, imageCount: 2 }));
      for (const [index, image] of one.entries()) {
        assert.ok(image.data.equals(other[index]!.data), `${packName} image ${index} differs between runs`);
      }
    }
  });

  it('varies images by prompt, seed and batch position', async () => {
    const job = await astronautJob();
    const base = await pixels(await renderOne(job));
    const otherPrompt = await pixels(await renderOne(job, { prompt: 'a portrait on a rooftop in the rain' }));
    const otherSeed = await pixels(await renderOne(job, { seed: 43 }));
    const [first, second] = await engine.render(renderInput(job, { imageCount: 2 }));

    assert.ok(meanDifference(base, otherPrompt) > 8, `another prompt changed pixels by only ${meanDifference(base, otherPrompt)}`);
    assert.ok(meanDifference(base, otherSeed) > 8, `another seed changed pixels by only ${meanDifference(base, otherSeed)}`);
    const batchDifference = meanDifference(await pixels(first!.data), await pixels(second!.data));
    assert.ok(batchDifference > 8, `two images of one batch differ by only ${batchDifference}`);
  });

  it('gives every pack a distinct look', async () => {
    const job = await astronautJob();
    const histograms = new Map<string, number[]>();
    for (const packName of PACKS) {
      histograms.set(packName, histogram(await pixels(await renderOne(job, { packName, prompt: 'portrait', seed: 1 }))));
    }

    // Within one look, other seeds and most prompts moved this distance by 0.2 at most on this photo.
    // Between looks it was 0.7 or more.
    for (const [index, first] of PACKS.entries()) {
      for (const second of PACKS.slice(index + 1)) {
        const distance = histogramDistance(histograms.get(first)!, histograms.get(second)!);
        assert.ok(distance > 0.45, `${first} and ${second} look alike: histogram distance ${distance.toFixed(2)}`);
      }
    }
  });

  it('keeps the face in frame and near the centre in every look', async () => {
    // The same photo with its face box painted green: whatever differs between the two renders is where
    // the face went.
    const marker = Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512"><rect x="${ASTRONAUT_FACE.x}" y="${ASTRONAUT_FACE.y}" ` +
        `width="${ASTRONAUT_FACE.width}" height="${ASTRONAUT_FACE.height}" fill="#00ff00"/></svg>`,
    );
    const marked = await sharp(ASTRONAUT).composite([{ input: marker }]).png().toBuffer();
    const plain = await astronautJob();
    const painted = await prepareJob([{ id: 'photo-1', image: marked, faceBox: ASTRONAUT_FACE }]);

    for (const packName of PACKS) {
      const before = await pixels(await renderOne(plain, { packName, seed: 5 }));
      const after = await pixels(await renderOne(painted, { packName, seed: 5 }));
      const changed = changedRegion(before, after);

      assert.ok(changed.count > 10_000, `${packName}: the face covers only ${changed.count} pixels`);
      assert.ok(Math.abs(changed.centreX - SIDE / 2) < 0.08 * SIDE, `${packName}: face centre x ${changed.centreX}`);
      assert.ok(Math.abs(changed.centreY - SIDE / 2) < 0.08 * SIDE, `${packName}: face centre y ${changed.centreY}`);
      for (const edge of [changed.left, changed.top, SIDE - 1 - changed.right, SIDE - 1 - changed.bottom]) {
        assert.ok(edge > 0.15 * SIDE, `${packName}: the face reaches within ${edge} pixels of the border`);
      }
    }
  });

  it('keeps the face colours at the centre in the neutral look', async () => {
    const job = await astronautJob();
    const output = await pixels(await renderOne(job, { packName: 'no_such_pack' }));
    const source = await pixels(ASTRONAUT);

    const centre = meanColour(output, SIDE, { left: SIDE / 2 - 60, top: SIDE / 2 - 60, side: 120 });
    const face = meanColour(source, 512, { left: 204, top: 110, side: 40 });
    const corner = meanColour(output, SIDE, { left: 0, top: 0, side: 120 });
    assert.ok(colourDistance(centre, face) < 40, `centre ${centre.map(Math.round)} is far from the face's ${face.map(Math.round)}`);
    assert.ok(colourDistance(corner, face) > colourDistance(centre, face) + 30, 'the corner is as close to the face colour as the centre');
  });

  it('centres a photo without a face box on its salient region', async () => {
    // A grey photo with one saturated red disc, right of centre: sharp's attention strategy should pick it.
    const disc = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="900" height="500"><rect width="900" height="500" fill="#8a8a8a"/>' +
        '<circle cx="700" cy="260" r="70" fill="#e01010"/></svg>',
    );
    const photo = await sharp(disc).png().toBuffer();
    const job = await prepareJob([{ id: 'photo-1', image: photo, faceBox: null }]);
    const output = await pixels(await renderOne(job, { packName: 'no_such_pack' }));

    const centre = meanColour(output, SIDE, { left: SIDE / 2 - 40, top: SIDE / 2 - 40, side: 80 });
    const [red, green, blue] = centre as [number, number, number];
    const description = `the centre is ${centre.map(Math.round)}, not the red disc`;
    assert.ok(red > 150, description);
    assert.ok(green < 90, description);
    assert.ok(blue < 90, description);
    assert.equal((job.preparation as { portraits: Array<{ subject: string }> }).portraits[0]!.subject, 'salient');
  });

  it('stores portraits under the job and renders from stored JSON', async () => {
    const job = await prepareJob([
      { id: 'photo-1', image: ASTRONAUT, faceBox: ASTRONAUT_FACE },
      { id: 'photo-2', image: fixture('coffee.png'), faceBox: null },
    ]);

    assert.deepEqual(
      job.storage.keysUnder('').filter((key) => key.includes('/engines/')),
      ['jobs/job-1/engines/local/portraits/photo-1.jpg', 'jobs/job-1/engines/local/portraits/photo-2.jpg'],
    );
    const roundTripped = JSON.parse(JSON.stringify(job.preparation)) as unknown;
    const images = await engine.render(renderInput(job, { preparation: roundTripped, imageCount: 3 }));
    assert.equal(images.length, 3);
  });

  it('rejects an aborted signal as retryable', async () => {
    const job = await astronautJob();
    const controller = new AbortController();
    controller.abort(new Error('task deadline passed'));

    await assert.rejects(engine.render(renderInput(job, { signal: controller.signal })), isAbortError('task deadline passed'));
    await assert.rejects(
      engine.prepare({ jobId: 'job-1', photos: job.photos, storage: job.storage, signal: controller.signal }),
      isAbortError('task deadline passed'),
    );
  });

  it('stops a render aborted while it runs', async () => {
    const job = await astronautJob();
    const controller = new AbortController();
    const storage = new AbortingStorage(job.storage, () => controller.abort(new Error('job deleted')));

    await assert.rejects(engine.render(renderInput(job, { storage, signal: controller.signal, imageCount: 4 })), isAbortError('job deleted'));
    assert.equal(storage.reads, 1, 'the render went on reading after the abort');
  });

  it('reports a missing photo as a non-retryable EngineError', async () => {
    const storage = new MemoryStorage();
    const photos: EnginePhoto[] = [{ id: 'photo-1', storageKey: 'jobs/job-1/photos/photo-1.png', width: 512, height: 512, faceBox: null }];

    await assert.rejects(engine.prepare({ jobId: 'job-1', photos, storage, signal: new AbortController().signal }), (error) => {
      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, false);
      assert.match(error.message, /photo photo-1 is missing from storage at jobs\/job-1\/photos\/photo-1\.png/);
      assert.match(error.userMessage, /Upload your photos again/);
      return true;
    });
  });

  it('reports a missing prepared portrait as a non-retryable EngineError', async () => {
    const job = await astronautJob();
    await job.storage.deletePrefix('jobs/job-1/engines/');

    await assert.rejects(engine.render(renderInput(job)), (error) => error instanceof EngineError && !error.retryable);
  });

  it('reports other storage failures as retryable', async () => {
    const job = await astronautJob();
    job.storage.failReads = { matches: (key) => key.includes('/portraits/'), error: new Error('EIO: i/o error') };

    await assert.rejects(engine.render(renderInput(job)), (error) => {
      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, true);
      assert.match(error.message, /EIO/);
      return true;
    });
  });

  it('reports an undecodable photo as a non-retryable EngineError', async () => {
    const storage = new MemoryStorage();
    await storage.put('jobs/job-1/photos/photo-1.jpg', fixture('truncated.jpg'), 'image/jpeg');
    const photos: EnginePhoto[] = [{ id: 'photo-1', storageKey: 'jobs/job-1/photos/photo-1.jpg', width: 400, height: 300, faceBox: null }];

    await assert.rejects(engine.prepare({ jobId: 'job-1', photos, storage, signal: new AbortController().signal }), (error) => {
      assert.ok(error instanceof EngineError);
      assert.equal(error.retryable, false);
      assert.match(error.message, /Photo photo-1 could not be decoded/);
      return true;
    });
  });

  it('rejects invalid input as non-retryable', async () => {
    const job = await astronautJob();
    const cases: Array<[string, Partial<RenderInput>]> = [
      ['no preparation', { preparation: null }],
      ['another version', { preparation: { version: 2, portraits: [] } }],
      ['no portraits', { preparation: { version: 1, portraits: [] } }],
      ['a portrait without a key', { preparation: { version: 1, portraits: [{ photoId: 'p', subject: 'face', subjectScale: 0.25 }] } }],
      ['zero images', { imageCount: 0 }],
      ['too many images', { imageCount: 33 }],
      ['a fractional seed', { seed: 1.5 }],
    ];
    for (const [name, overrides] of cases) {
      await assert.rejects(engine.render(renderInput(job, overrides)), (error) => error instanceof EngineError && !error.retryable, name);
    }
    await assert.rejects(
      engine.prepare({ jobId: '../other-job', photos: job.photos, storage: job.storage, signal: new AbortController().signal }),
      (error) => error instanceof EngineError && /do not form a valid storage key/.test(error.message),
    );
    await assert.rejects(
      engine.prepare({ jobId: 'job-1', photos: [], storage: job.storage, signal: new AbortController().signal }),
      (error) => error instanceof EngineError && !error.retryable,
    );
  });

  it('takes minimumPhotos from LOCAL_ENGINE_MIN_PHOTOS', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'envision-engine-'));

    assert.equal(createLocalEngine(loadConfig({ DATA_DIR: dataDir })).minimumPhotos, 1);
    assert.equal(createLocalEngine(loadConfig({ DATA_DIR: dataDir, LOCAL_ENGINE_MIN_PHOTOS: '4' })).minimumPhotos, 4);
    assert.throws(() => loadConfig({ DATA_DIR: dataDir, LOCAL_ENGINE_MIN_PHOTOS: '0' }), (error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /LOCAL_ENGINE_MIN_PHOTOS must be a whole number from 1 to 100, got "0"/);
      return true;
    });
    assert.throws(() => new LocalEngine({ minimumPhotos: 0 }), RangeError);
    assert.equal(engine.name, 'local');
  });
});

/** Checks for the error every engine throws on an abort: retryable, naming the abort's reason. */
function isAbortError(reason: string) {
  return (error: unknown) => {
    assert.ok(error instanceof EngineError);
    assert.equal(error.retryable, true);
    assert.equal(error.message, `The render was aborted (${reason})`);
    return true;
  };
}

/** Returns the count, centroid and bounding box of the pixels where two renders differ strongly. */
function changedRegion(before: Buffer, after: Buffer) {
  let count = 0;
  let sumX = 0;
  let sumY = 0;
  let left = SIDE;
  let top = SIDE;
  let right = -1;
  let bottom = -1;
  for (let index = 0; index < SIDE * SIDE; index += 1) {
    const offset = index * 3;
    const difference =
      Math.abs(before[offset]! - after[offset]!) + Math.abs(before[offset + 1]! - after[offset + 1]!) + Math.abs(before[offset + 2]! - after[offset + 2]!);
    if (difference > 150) {
      const x = index % SIDE;
      const y = Math.floor(index / SIDE);
      count += 1;
      sumX += x;
      sumY += y;
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
  }
  return { count, centreX: sumX / count, centreY: sumY / count, left, top, right, bottom };
}

/** Storage that calls `onRead` on every `get`, then reads from `inner`. */
class AbortingStorage extends MemoryStorage {
  reads = 0;

  constructor(
    private readonly inner: MemoryStorage,
    private readonly onRead: () => void,
  ) {
    super();
  }

  override async get(key: string) {
    this.reads += 1;
    this.onRead();
    return this.inner.get(key);
  }
}
