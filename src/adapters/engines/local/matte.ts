import sharp from 'sharp';
import type { SubjectPlacement } from './overlays.js';
import { clamp } from './variation.js';

/** Side of the working copy the matte is computed on; the result is scaled up, which also softens it. */
const MATTE_SIDE = 256;

/** See `colourDistance`. */
const CHROMA_WEIGHT = 3;

/** Colour distances below which a pixel counts fully as background, and above which not at all. */
const BACKGROUND_NEAR = 26;
const BACKGROUND_FAR = 58;

/** A background sample closer than this to a subject sample is dropped. */
const SUBJECT_DISTINCT = 42;

/**
 * Computes where the backdrop may cover the photo, as an alpha channel (255 = backdrop) the size of the
 * image.
 *
 * There is no segmentation model, so the matte is a guess in two parts. A silhouette of head, neck and
 * shoulders (ellipses around the subject) has an inner core the backdrop never covers and a soft rim
 * beyond which it always does. Between the two, where hair and shoulder edges meet the photo's
 * background, the backdrop covers the pixels whose colour is close to a sample of that background. The
 * samples are patches along the top edge and around the top of the head, where a portrait rarely shows
 * anything else, less those that look like samples of the subject. The sides are not sampled, because
 * flags, furniture and other people stand there.
 *
 * A salient region has no known shape, so then the backdrop only frames the picture (see `borderMatte`).
 */
export async function backdropMatte(image: { data: Buffer; width: number; height: number }, subject: SubjectPlacement): Promise<Buffer> {
  if (subject.kind === 'salient') {
    return borderMatte(image.width, image.height);
  }

  const scale = MATTE_SIDE / image.width;
  const small = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(MATTE_SIDE, MATTE_SIDE)
    .blur(1.2)
    .raw()
    .toBuffer();
  const centreX = subject.centreX * scale;
  const centreY = subject.centreY * scale;
  const face = subject.faceSize * scale;

  // A background sample that looks like the subject (hair by the photo's edge, a wall the colour of skin)
  // would let the backdrop eat into the subject, so it is left out.
  const subjectColours = subjectSamples(small, centreX, centreY, face);
  const samples = [...topEdgeSamples(small), ...besideHeadSamples(small, centreX, centreY, face)].filter(
    (sample) => subjectColours.every((colour) => colourDistance(sample, colour) > SUBJECT_DISTINCT),
  );

  const alpha = Buffer.allocUnsafe(MATTE_SIDE * MATTE_SIDE);
  for (let y = 0; y < MATTE_SIDE; y += 1) {
    for (let x = 0; x < MATTE_SIDE; x += 1) {
      const index = y * MATTE_SIDE + x;
      const distance = silhouetteDistance(x - centreX, y - centreY, face);
      // The rim's own cover rises slowly (cubed), so hair and shoulders there stay when the colour guess
      // keeps them. The guess also reaches into the core's outer quarter, because the core is wider than
      // the hair or the neck in places. The inner core, with the face, is never covered.
      const rim = clamp((distance - 1) / (RIM_END - 1), 0, 1);
      const reach = clamp((distance - CORE_GUESS_START) / (1 - CORE_GUESS_START), 0, 1);
      const guess = rim >= 1 || reach === 0 ? 0 : backgroundLikeness(small, index * 3, samples) * reach;
      alpha[index] = Math.round(255 * Math.max(rim ** 3, guess));
    }
  }
  return scaleUp(alpha, image.width, image.height);
}

/** Returns a matte with the backdrop along the borders only: none within 55% of the half-side from the centre, all of it from 95%. */
async function borderMatte(width: number, height: number): Promise<Buffer> {
  const alpha = Buffer.allocUnsafe(MATTE_SIDE * MATTE_SIDE);
  const half = MATTE_SIDE / 2;
  for (let y = 0; y < MATTE_SIDE; y += 1) {
    for (let x = 0; x < MATTE_SIDE; x += 1) {
      const distance = Math.hypot(x + 0.5 - half, y + 0.5 - half) / half;
      alpha[y * MATTE_SIDE + x] = Math.round(255 * clamp((distance - 0.55) / 0.4, 0, 1));
    }
  }
  return scaleUp(alpha, width, height);
}

function scaleUp(alpha: Buffer, width: number, height: number): Promise<Buffer> {
  return sharp(alpha, { raw: { width: MATTE_SIDE, height: MATTE_SIDE, channels: 1 } })
    .resize(width, height, { kernel: 'cubic' })
    .extractChannel(0)
    .raw()
    .toBuffer();
}

/**
 * Silhouette distance 1 is the edge of the core and RIM_END the end of the rim. The colour guess starts at
 * CORE_GUESS_START inside the core and reaches full strength at its edge.
 */
const RIM_END = 1.7;
const CORE_GUESS_START = 0.75;

/**
 * Measures how far a point is from the subject in silhouette units, as the smallest of its distances to
 * the ellipses that make up the core. They are the head (the face box centre sits low in it, to take in
 * hair), the jaw, the neck and the shoulders. Sizes are in face heights, and a face box is about 0.86
 * as wide as it is tall.
 */
function silhouetteDistance(dx: number, dy: number, face: number): number {
  const head = ellipseDistance(dx, dy + 0.25 * face, 0.47 * face, 0.72 * face);
  const jaw = ellipseDistance(dx, dy - 0.15 * face, 0.37 * face, 0.42 * face);
  const neck = ellipseDistance(dx, dy - 0.6 * face, 0.27 * face, 0.45 * face);
  const shoulders = ellipseDistance(dx, dy - 2.1 * face, 1.7 * face, 1.1 * face);
  return Math.min(head, jaw, neck, shoulders);
}

/** 1 on the ellipse's edge, less inside, more outside. */
function ellipseDistance(dx: number, dy: number, radiusX: number, radiusY: number): number {
  return Math.hypot(dx / radiusX, dy / radiusY);
}

/** Mean colours of 8×8 patches along the top edge. */
function topEdgeSamples(small: Buffer): number[][] {
  const patch = 8;
  const samples: number[][] = [];
  for (let x = 0; x + patch <= MATTE_SIDE; x += patch * 2) {
    samples.push(patchMean(small, x, 0, patch));
  }
  return samples;
}

/**
 * Mean colours of patches around the top of the head, beyond the widest hair, in face heights from the
 * face's centre. None is lower than the eyes, where shoulders and collars begin.
 */
function besideHeadSamples(small: Buffer, centreX: number, centreY: number, face: number): number[][] {
  const places: Array<[number, number]> = [
    [0, -1.3],
    [-0.8, -1.1],
    [0.8, -1.1],
    [-1.1, -0.5],
    [1.1, -0.5],
  ];
  return patchesAt(small, centreX, centreY, face, places);
}

/** Mean colours of patches on the hair above the face, on the face and on the neck, in face heights from its centre. */
function subjectSamples(small: Buffer, centreX: number, centreY: number, face: number): number[][] {
  const places: Array<[number, number]> = [
    [0, -0.72],
    [-0.3, -0.62],
    [0.3, -0.62],
    [0, 0],
    [-0.2, 0.15],
    [0.2, 0.15],
  ];
  return patchesAt(small, centreX, centreY, face, places);
}

/** Mean colours of square patches a tenth of a face high, at places given in face heights from its centre. */
function patchesAt(small: Buffer, centreX: number, centreY: number, face: number, places: Array<[number, number]>): number[][] {
  const patch = Math.max(2, Math.round(face * 0.1));
  return places.map(([dx, dy]) =>
    patchMean(
      small,
      clamp(Math.round(centreX + dx * face - patch / 2), 0, MATTE_SIDE - patch),
      clamp(Math.round(centreY + dy * face - patch / 2), 0, MATTE_SIDE - patch),
      patch,
    ),
  );
}

function patchMean(small: Buffer, left: number, top: number, patch: number): number[] {
  const sum = [0, 0, 0];
  for (let y = top; y < top + patch; y += 1) {
    for (let x = left; x < left + patch; x += 1) {
      const offset = (y * MATTE_SIDE + x) * 3;
      sum[0]! += small[offset]!;
      sum[1]! += small[offset + 1]!;
      sum[2]! += small[offset + 2]!;
    }
  }
  return sum.map((total) => total / (patch * patch));
}

/**
 * Distance between two RGB colours in BT.601 YCbCr with the chroma differences weighted three times.
 * Pale skin and a light grey wall differ mostly in chroma, which plain RGB distance undervalues.
 */
function colourDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const red = a[0]! - b[0]!;
  const green = a[1]! - b[1]!;
  const blue = a[2]! - b[2]!;
  const luma = 0.299 * red + 0.587 * green + 0.114 * blue;
  const blueChroma = -0.169 * red - 0.331 * green + 0.5 * blue;
  const redChroma = 0.5 * red - 0.419 * green - 0.081 * blue;
  return Math.hypot(luma, CHROMA_WEIGHT * blueChroma, CHROMA_WEIGHT * redChroma);
}

/** 1 when the pixel's colour is within BACKGROUND_NEAR of some sample, 0 beyond BACKGROUND_FAR of all. */
function backgroundLikeness(small: Buffer, offset: number, samples: number[][]): number {
  const pixel = small.subarray(offset, offset + 3);
  let nearest = Infinity;
  for (const sample of samples) {
    nearest = Math.min(nearest, colourDistance(pixel, sample));
  }
  return clamp((BACKGROUND_FAR - nearest) / (BACKGROUND_FAR - BACKGROUND_NEAR), 0, 1);
}
