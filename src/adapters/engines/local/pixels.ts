import { parseHex } from './colour.js';
import { SeededRandom } from './variation.js';

/**
 * Pixel operations sharp has no call for, on raw interleaved RGB buffers (3 bytes per pixel). Each
 * returns a new buffer and leaves its input as it was.
 */

/**
 * Cel shading: rounds each pixel's luma (BT.601 YCbCr) to one of `levels` evenly spaced values and keeps
 * its chroma. Quantising luma alone gives flat, poster-like tones without the hue blotches that rounding
 * each RGB channel on its own leaves in skin.
 */
export function posterize(rgb: Buffer, levels: number): Buffer {
  const step = 255 / (levels - 1);
  const output = Buffer.allocUnsafe(rgb.length);
  for (let index = 0; index < rgb.length; index += 3) {
    const red = rgb[index]!;
    const green = rgb[index + 1]!;
    const blue = rgb[index + 2]!;
    const luma = 0.299 * red + 0.587 * green + 0.114 * blue;
    const shift = Math.round(luma / step) * step - luma;
    output[index] = clampByte(red + shift);
    output[index + 1] = clampByte(green + shift);
    output[index + 2] = clampByte(blue + shift);
  }
  return output;
}

function clampByte(value: number): number {
  return Math.min(255, Math.max(0, Math.round(value)));
}

/**
 * Maps each pixel's luma (Rec. 601 weights) onto a ramp from near-black through `tint` to near-white,
 * as toned prints do.
 */
export function toneMonochrome(rgb: Buffer, tint: string): Buffer {
  const middle = parseHex(tint);
  const shadow = { red: 24, green: 16, blue: 10 };
  const highlight = { red: 250, green: 244, blue: 230 };
  const ramp = new Uint8Array(256 * 3);
  for (let luma = 0; luma < 256; luma += 1) {
    const t = luma / 255;
    const [from, to, amount] = t < 0.5 ? [shadow, middle, t * 2] : [middle, highlight, (t - 0.5) * 2];
    ramp[luma * 3] = Math.round(from.red + (to.red - from.red) * amount);
    ramp[luma * 3 + 1] = Math.round(from.green + (to.green - from.green) * amount);
    ramp[luma * 3 + 2] = Math.round(from.blue + (to.blue - from.blue) * amount);
  }
  const output = Buffer.allocUnsafe(rgb.length);
  for (let index = 0; index < rgb.length; index += 3) {
    const luma = Math.round(0.299 * rgb[index]! + 0.587 * rgb[index + 1]! + 0.114 * rgb[index + 2]!);
    output[index] = ramp[luma * 3]!;
    output[index + 1] = ramp[luma * 3 + 1]!;
    output[index + 2] = ramp[luma * 3 + 2]!;
  }
  return output;
}

/**
 * Film grain as a single-channel image around mid-grey (128), for sharp's `overlay` blend, where 128
 * leaves the picture unchanged. `strength` 1 spreads values by about ±64.
 */
export function grainNoise(width: number, height: number, strength: number, seed: number): Buffer {
  const random = new SeededRandom(seed);
  const amplitude = 64 * strength;
  const output = Buffer.allocUnsafe(width * height);
  for (let index = 0; index < output.length; index += 1) {
    // The sum of two uniform numbers has a triangular distribution: close enough to Gaussian grain.
    const noise = random.next() + random.next() - 1;
    output[index] = Math.max(0, Math.min(255, Math.round(128 + noise * 2 * amplitude)));
  }
  return output;
}

/**
 * Ink lines: the Sobel gradient magnitude of a single-channel image, mapped to white (below `low`)
 * through dark grey (above `high`). The result is a single-channel image for sharp's `multiply` blend.
 */
export function inkOutline(grey: Buffer, width: number, height: number, low: number, high: number): Buffer {
  const output = Buffer.alloc(width * height, 255);
  for (let y = 1; y < height - 1; y += 1) {
    for (let x = 1; x < width - 1; x += 1) {
      const index = y * width + x;
      const above = index - width;
      const below = index + width;
      const horizontal = grey[above + 1]! + 2 * grey[index + 1]! + grey[below + 1]! - grey[above - 1]! - 2 * grey[index - 1]! - grey[below - 1]!;
      const vertical = grey[below - 1]! + 2 * grey[below]! + grey[below + 1]! - grey[above - 1]! - 2 * grey[above]! - grey[above + 1]!;
      const magnitude = Math.abs(horizontal) + Math.abs(vertical);
      const ink = Math.min(1, Math.max(0, (magnitude - low) / (high - low)));
      output[index] = Math.round(255 * (1 - 0.9 * ink));
    }
  }
  return output;
}

/**
 * Halftone dots on a grid turned by `angleDegrees`, as a single-channel image for sharp's `multiply`
 * blend: white between the dots, `1 - strength` of white inside them, with a one-pixel soft edge.
 */
export function halftoneDots(width: number, height: number, cell: number, radius: number, angleDegrees: number, strength: number): Buffer {
  const angle = (angleDegrees * Math.PI) / 180;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const ink = 255 * strength;
  const output = Buffer.allocUnsafe(width * height);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const u = (x * cos + y * sin) / cell;
      const v = (y * cos - x * sin) / cell;
      const du = (u - Math.floor(u) - 0.5) * cell;
      const dv = (v - Math.floor(v) - 0.5) * cell;
      const coverage = Math.min(1, Math.max(0, radius + 0.5 - Math.hypot(du, dv)));
      output[y * width + x] = Math.round(255 - ink * coverage);
    }
  }
  return output;
}
