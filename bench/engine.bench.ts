// The local engine's speed: images per minute, rendering every pack's look on the astronaut test photo,
// next to the floor any sharp pipeline pays in the same run: decoding and re-encoding one 1024×1024 JPEG.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { LocalEngine } from '../src/adapters/engines/local/local-engine.js';
import { LOOKS } from '../src/adapters/engines/local/looks.js';
import { MemoryStorage } from '../test/helpers/memory-storage.js';
import { formatRow } from './lib/load.js';

const IMAGES_PER_PACK = 2;
const ASTRONAUT_FACE = { x: 176, y: 72, width: 96, height: 112 };

export default async function engineBenchmark(): Promise<string> {
  const photo = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../test/fixtures/photos/astronaut.png'));
  const storage = new MemoryStorage();
  await storage.put('jobs/bench/photos/photo-1.png', photo, 'image/png');
  const engine = new LocalEngine({ minimumPhotos: 1 });
  const signal = new AbortController().signal;

  const prepareStart = performance.now();
  const preparation = await engine.prepare({
    jobId: 'bench',
    photos: [{ id: 'photo-1', storageKey: 'jobs/bench/photos/photo-1.png', width: 512, height: 512, faceBox: ASTRONAUT_FACE }],
    storage,
    signal,
  });
  const prepareMs = performance.now() - prepareStart;

  const packs = [...Object.keys(LOOKS), 'unknown pack (neutral look)'];
  const perPack: Array<{ pack: string; msPerImage: number }> = [];
  let sample: Buffer | undefined;
  const renderStart = performance.now();
  for (const packName of packs) {
    const start = performance.now();
    const images = await engine.render({
      jobId: 'bench',
      packName,
      promptIndex: 0,
      prompt: 'a portrait in the style of the pack',
      negativePrompt: null,
      seed: 7,
      imageCount: IMAGES_PER_PACK,
      preparation,
      storage,
      signal,
    });
    sample ??= images[0]!.data;
    perPack.push({ pack: packName, msPerImage: (performance.now() - start) / IMAGES_PER_PACK });
  }
  const renderMs = performance.now() - renderStart;
  const rendered = packs.length * IMAGES_PER_PACK;

  // Baseline: the same number of decode and re-encode round trips of a 1024×1024 JPEG from the engine.
  const baselineStart = performance.now();
  for (let index = 0; index < rendered; index += 1) {
    await sharp(sample!).jpeg({ quality: 90 }).toBuffer();
  }
  const baselineMs = performance.now() - baselineStart;

  const perMinute = (count: number, milliseconds: number) => Math.round((count / milliseconds) * 60_000);
  const lines = [
    `Local engine, ${rendered} images (${IMAGES_PER_PACK} per look, ${packs.length} looks) of 1024×1024 from one prepared photo, one at a time, sharp concurrency ${sharp.concurrency()}.`,
    '',
    formatRow(['measurement', 'images per minute', 'ms per image']),
    formatRow(['---', '---', '---']),
    formatRow(['local engine `render`, all looks', perMinute(rendered, renderMs), Math.round(renderMs / rendered)]),
    formatRow(['baseline: sharp decode + JPEG encode of one 1024×1024 image', perMinute(rendered, baselineMs), Math.round(baselineMs / rendered)]),
    '',
    `\`prepare\` of the 512×512 photo (read, cut the face-centred portrait, store it): ${Math.round(prepareMs)} ms.`,
    '',
    formatRow(['look', 'ms per image']),
    formatRow(['---', '---']),
    ...perPack.map(({ pack, msPerImage }) => formatRow([pack, Math.round(msPerImage)])),
  ];
  return lines.join('\n');
}
