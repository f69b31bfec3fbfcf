import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

/** Photos made from the fixtures in test/fixtures/photos, for the quality gate's cases. */
export const FIXTURE_DIRECTORY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'photos');

export type FixtureName = 'astronaut' | 'camera' | 'chelsea' | 'coffee';

export function fixturePhoto(name: FixtureName): Buffer {
  return readFileSync(path.join(FIXTURE_DIRECTORY, `${name}.png`));
}

/** The fixture blurred with a Gaussian of standard deviation `sigma` pixels, as PNG. */
export function blurredPhoto(name: FixtureName, sigma: number): Promise<Buffer> {
  return sharp(fixturePhoto(name)).blur(sigma).png().toBuffer();
}

/** Two fixtures side by side on one 1024 × 512 canvas: two people in one photo. */
export async function sideBySidePhoto(left: FixtureName, right: FixtureName): Promise<Buffer> {
  const rightImage = await sharp(fixturePhoto(right)).resize(512, 512, { fit: 'cover' }).toColourspace('srgb').png().toBuffer();
  return sharp({ create: { width: 1024, height: 512, channels: 3, background: '#000000' } })
    .composite([
      { input: await sharp(fixturePhoto(left)).resize(512, 512, { fit: 'cover' }).png().toBuffer(), left: 0, top: 0 },
      { input: rightImage, left: 512, top: 0 },
    ])
    .png()
    .toBuffer();
}

/**
 * The fixture shrunk to `photoSide` pixels and placed in the middle of a grey square canvas of
 * `canvasSide` pixels: a face far from the camera.
 */
export async function smallFacePhoto(name: FixtureName, photoSide: number, canvasSide: number): Promise<Buffer> {
  const offset = Math.round((canvasSide - photoSide) / 2);
  return sharp({ create: { width: canvasSide, height: canvasSide, channels: 3, background: '#808080' } })
    .composite([{ input: await sharp(fixturePhoto(name)).resize(photoSide).png().toBuffer(), left: offset, top: offset }])
    .png()
    .toBuffer();
}
