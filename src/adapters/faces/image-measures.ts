/**
 * Pixel measures the quality gate needs besides the face models: a sharpness score and a perceptual hash.
 * Plain TypeScript on raw pixels, so they run inside the analysis worker threads without native modules.
 */

/** An 8-bit single-channel image, row by row. */
export interface GrayImage {
  pixels: Float32Array;
  width: number;
  height: number;
}

/** A rectangle in pixels; `x` and `y` are its top-left corner. */
export interface PixelRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Converts interleaved RGB bytes to luma with the ITU-R BT.601 weights. */
export function toGrayscale(rgb: Uint8Array, width: number, height: number): GrayImage {
  const pixels = new Float32Array(width * height);
  for (let index = 0; index < pixels.length; index += 1) {
    const offset = index * 3;
    pixels[index] = 0.299 * rgb[offset]! + 0.587 * rgb[offset + 1]! + 0.114 * rgb[offset + 2]!;
  }
  return { pixels, width, height };
}

/**
 * Resamples `region` of `image` to `targetWidth` × `targetHeight` with a box filter. Each output pixel
 * averages the source pixels under its footprint, weighted by overlap. The footprint is at least one
 * source pixel wide, so shrinking averages (no aliasing) and enlarging interpolates linearly (no blocks).
 * The filter is separable: rows first, then columns.
 */
export function resampleRegion(image: GrayImage, region: PixelRegion, targetWidth: number, targetHeight: number): GrayImage {
  const left = clamp(region.x, 0, image.width);
  const top = clamp(region.y, 0, image.height);
  const right = clamp(region.x + region.width, left, image.width);
  const bottom = clamp(region.y + region.height, top, image.height);
  const columns = boxFilterTaps(left, right, targetWidth);
  const rows = boxFilterTaps(top, bottom, targetHeight);
  const firstRow = Math.floor(top);
  const lastRow = Math.max(firstRow, Math.ceil(bottom) - 1);

  // Horizontal pass over every source row the region touches.
  const horizontal = new Float32Array((lastRow - firstRow + 1) * targetWidth);
  for (let y = firstRow; y <= lastRow; y += 1) {
    const sourceRow = y * image.width;
    const targetRow = (y - firstRow) * targetWidth;
    for (let targetX = 0; targetX < targetWidth; targetX += 1) {
      let sum = 0;
      for (const tap of columns[targetX]!) {
        sum += image.pixels[sourceRow + tap.index]! * tap.weight;
      }
      horizontal[targetRow + targetX] = sum;
    }
  }

  const output = new Float32Array(targetWidth * targetHeight);
  for (let targetY = 0; targetY < targetHeight; targetY += 1) {
    for (let targetX = 0; targetX < targetWidth; targetX += 1) {
      let sum = 0;
      for (const tap of rows[targetY]!) {
        sum += horizontal[(tap.index - firstRow) * targetWidth + targetX]! * tap.weight;
      }
      output[targetY * targetWidth + targetX] = sum;
    }
  }
  return { pixels: output, width: targetWidth, height: targetHeight };
}

interface FilterTap {
  index: number;
  weight: number;
}

/** Source pixels and normalised weights for each of `count` output pixels spanning [from, to). */
function boxFilterTaps(from: number, to: number, count: number): FilterTap[][] {
  const step = (to - from) / count;
  const half = Math.max(step, 1) / 2;
  const taps: FilterTap[][] = [];
  for (let target = 0; target < count; target += 1) {
    const centre = from + (target + 0.5) * step;
    const start = Math.max(from, centre - half);
    const end = Math.min(to, centre + half);
    const pixelTaps: FilterTap[] = [];
    let total = 0;
    for (let index = Math.floor(start); index < Math.ceil(end); index += 1) {
      const weight = Math.min(end, index + 1) - Math.max(start, index);
      if (weight > 0) {
        pixelTaps.push({ index, weight });
        total += weight;
      }
    }
    if (total === 0) {
      // An empty region: repeat its nearest pixel rather than divide by zero.
      pixelTaps.push({ index: Math.min(Math.max(Math.floor(centre), 0), Math.max(Math.ceil(to) - 1, 0)), weight: 1 });
      total = 1;
    }
    taps.push(pixelTaps.map((tap) => ({ index: tap.index, weight: tap.weight / total })));
  }
  return taps;
}

/**
 * Computes the sharpness of an image: the variance of its Laplacian divided by the variance of its
 * pixels. The variance of the Laplacian is a common focus measure, and it falls as blur removes fine
 * detail. Dividing by the image's own variance makes the score independent of contrast, so a dim but
 * sharp face is not mistaken for a blurred one. A flat image (no contrast at all) scores 0.
 */
export function sharpness(image: GrayImage): number {
  const { pixels, width, height } = image;
  if (width < 3 || height < 3) {
    return 0;
  }

  let laplacianSum = 0;
  let laplacianSquares = 0;
  let count = 0;
  for (let y = 1; y < height - 1; y += 1) {
    for (let x = 1; x < width - 1; x += 1) {
      const index = y * width + x;
      const laplacian =
        pixels[index - 1]! + pixels[index + 1]! + pixels[index - width]! + pixels[index + width]! - 4 * pixels[index]!;
      laplacianSum += laplacian;
      laplacianSquares += laplacian * laplacian;
      count += 1;
    }
  }
  const laplacianVariance = laplacianSquares / count - (laplacianSum / count) ** 2;

  let pixelSum = 0;
  let pixelSquares = 0;
  for (const value of pixels) {
    pixelSum += value;
    pixelSquares += value * value;
  }
  const pixelVariance = pixelSquares / pixels.length - (pixelSum / pixels.length) ** 2;

  // Below one grey level of spread the image is flat, and the ratio would only measure rounding noise.
  return pixelVariance < 1 ? 0 : laplacianVariance / pixelVariance;
}

/** Side of the square an image is reduced to before the DCT, and of the low-frequency block kept. */
const HASH_INPUT_SIDE = 32;
const HASH_BLOCK_SIDE = 8;

/**
 * Computes a 64-bit perceptual hash in the DCT ("pHash") scheme. The image is reduced to 32 × 32 grey pixels, its
 * 8 × 8 lowest-frequency DCT coefficients are compared with their median, and each gives one bit.
 * Re-encoding, resizing and brightness changes leave it almost unchanged. `mirrored` is the hash of the
 * image flipped left to right, derived from the same coefficients (a horizontal flip negates every
 * odd horizontal frequency), so a mirrored selfie can be matched too. Both are 16 hex digits.
 */
export function perceptualHashes(image: GrayImage): { hash: string; mirrored: string } {
  const reduced = resampleRegion(image, { x: 0, y: 0, width: image.width, height: image.height }, HASH_INPUT_SIDE, HASH_INPUT_SIDE);
  const coefficients = lowFrequencyDct(reduced.pixels);
  const mirroredCoefficients = coefficients.map((value, index) => ((index % HASH_BLOCK_SIDE) % 2 === 1 ? -value : value));
  return { hash: hashBits(coefficients), mirrored: hashBits(mirroredCoefficients) };
}

/** DCT-II of a 32 × 32 block, only the 8 × 8 lowest frequencies, row-major (vertical frequency first). */
function lowFrequencyDct(pixels: Float32Array): number[] {
  const n = HASH_INPUT_SIDE;
  const cosines: number[][] = [];
  for (let frequency = 0; frequency < HASH_BLOCK_SIDE; frequency += 1) {
    cosines.push(Array.from({ length: n }, (_, position) => Math.cos((Math.PI * (2 * position + 1) * frequency) / (2 * n))));
  }

  // Separable transform: first along each row, then down the columns.
  const rows: number[][] = [];
  for (let y = 0; y < n; y += 1) {
    rows.push(cosines.map((cosine) => cosine.reduce((sum, weight, x) => sum + weight * pixels[y * n + x]!, 0)));
  }
  const coefficients: number[] = [];
  for (let vertical = 0; vertical < HASH_BLOCK_SIDE; vertical += 1) {
    for (let horizontal = 0; horizontal < HASH_BLOCK_SIDE; horizontal += 1) {
      coefficients.push(cosines[vertical]!.reduce((sum, weight, y) => sum + weight * rows[y]![horizontal]!, 0));
    }
  }
  return coefficients;
}

function hashBits(coefficients: number[]): string {
  const sorted = [...coefficients].sort((a, b) => a - b);
  const median = (sorted[31]! + sorted[32]!) / 2;
  let hex = '';
  for (let start = 0; start < coefficients.length; start += 4) {
    let nibble = 0;
    for (let bit = 0; bit < 4; bit += 1) {
      nibble = (nibble << 1) | (coefficients[start + bit]! > median ? 1 : 0);
    }
    hex += nibble.toString(16);
  }
  return hex;
}

function clamp(value: number, minimum: number, maximum: number): number {
  return Math.min(Math.max(value, minimum), maximum);
}
