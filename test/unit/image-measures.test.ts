import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import {
  type GrayImage,
  perceptualHashes,
  resampleRegion,
  sharpness,
  toGrayscale,
} from '../../src/adapters/faces/image-measures.js';
import { hammingDistance } from '../../src/domain/photos/face-quality-gate.js';
import { fixturePhoto } from '../helpers/photos.js';

async function grayOf(image: Buffer): Promise<GrayImage> {
  const { data, info } = await sharp(image).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return toGrayscale(data, info.width, info.height);
}

function constantImage(width: number, height: number, value: number): GrayImage {
  return { pixels: new Float32Array(width * height).fill(value), width, height };
}

describe('toGrayscale', () => {
  it('weights channels by BT.601 luma', () => {
    const gray = toGrayscale(new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255]), 3, 1);

    assert.deepEqual(Array.from(gray.pixels).map((value) => Math.round(value * 10) / 10), [76.2, 149.7, 29.1]);
  });
});

describe('resampleRegion', () => {
  it('keeps a constant image constant, shrinking and enlarging', () => {
    const image = constantImage(50, 30, 100);

    for (const [width, height] of [[10, 6], [200, 120], [7, 90]] as const) {
      const result = resampleRegion(image, { x: 5, y: 5, width: 40, height: 20 }, width, height);
      assert.ok(result.pixels.every((value) => Math.abs(value - 100) < 1e-3), `${width}×${height}`);
    }
  });

  it('averages the pixels under each output pixel', () => {
    const image: GrayImage = { pixels: new Float32Array([0, 100, 200, 300]), width: 4, height: 1 };

    assert.deepEqual(Array.from(resampleRegion(image, { x: 0, y: 0, width: 4, height: 1 }, 2, 1).pixels), [50, 250]);
  });

  it('clips a region that leaves the frame', () => {
    const image = constantImage(10, 10, 42);
    const result = resampleRegion(image, { x: -20, y: 5, width: 100, height: 100 }, 4, 4);

    assert.ok(result.pixels.every((value) => Math.abs(value - 42) < 1e-3));
  });
});

describe('sharpness', () => {
  it('scores a flat image 0', () => {
    assert.equal(sharpness(constantImage(64, 64, 128)), 0);
  });

  it('falls as blur grows', async () => {
    const scores: number[] = [];
    for (const sigma of [0, 1, 2.5, 6]) {
      const image = sigma === 0 ? fixturePhoto('astronaut') : await sharp(fixturePhoto('astronaut')).blur(sigma).png().toBuffer();
      scores.push(sharpness(await grayOf(image)));
    }

    for (let index = 1; index < scores.length; index += 1) {
      assert.ok(scores[index]! < scores[index - 1]!, `sharpness ${scores.join(', ')} should fall with blur`);
    }
  });

  it('ignores contrast', async () => {
    const original = sharpness(await grayOf(fixturePhoto('astronaut')));
    const dimmed = sharpness(await grayOf(await sharp(fixturePhoto('astronaut')).linear(0.3, 0).png().toBuffer()));

    assert.ok(Math.abs(dimmed - original) / original < 0.2, `original ${original}, dimmed ${dimmed}`);
  });
});

describe('perceptualHashes', () => {
  it('returns 16 hex digits', async () => {
    const { hash, mirrored } = perceptualHashes(await grayOf(fixturePhoto('astronaut')));

    assert.match(hash, /^[0-9a-f]{16}$/);
    assert.match(mirrored, /^[0-9a-f]{16}$/);
  });

  it('survives re-encoding and resizing', async () => {
    const original = perceptualHashes(await grayOf(fixturePhoto('astronaut'))).hash;
    const jpeg = perceptualHashes(await grayOf(await sharp(fixturePhoto('astronaut')).jpeg({ quality: 50 }).toBuffer())).hash;
    const resized = perceptualHashes(await grayOf(await sharp(fixturePhoto('astronaut')).resize(200).png().toBuffer())).hash;

    assert.ok(hammingDistance(original, jpeg) <= 2);
    assert.ok(hammingDistance(original, resized) <= 2);
  });

  it('derives the hash of the mirrored photo', async () => {
    const original = perceptualHashes(await grayOf(fixturePhoto('astronaut')));
    const flipped = perceptualHashes(await grayOf(await sharp(fixturePhoto('astronaut')).flop().png().toBuffer()));

    assert.ok(hammingDistance(original.mirrored, flipped.hash) <= 2, `${original.mirrored} vs ${flipped.hash}`);
    assert.ok(hammingDistance(original.hash, flipped.hash) > 20);
  });

  it('tells different photos apart', async () => {
    const astronaut = perceptualHashes(await grayOf(fixturePhoto('astronaut'))).hash;
    for (const name of ['camera', 'chelsea', 'coffee'] as const) {
      const other = perceptualHashes(await grayOf(fixturePhoto(name))).hash;
      assert.ok(hammingDistance(astronaut, other) > 20, `${name}: ${hammingDistance(astronaut, other)} bits`);
    }
  });
});
