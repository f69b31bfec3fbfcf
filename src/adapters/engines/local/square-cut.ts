import sharp from 'sharp';

/**
 * Cuts the square (which may reach past the photo) and scales it to `outputSide`. Decoding failures
 * reject with sharp's own error; the caller turns them into EngineErrors.
 */
export async function cutSquare(
  source: Buffer,
  width: number,
  height: number,
  square: { left: number; top: number; side: number },
  outputSide: number,
): Promise<Buffer> {
  const { left, top, side } = square;
  const inside = left >= 0 && top >= 0 && left + side <= width && top + side <= height;
  const image = inside
    ? await sharp(source).extract({ left, top, width: side, height: side }).toBuffer()
    : await fillOutside(source, width, height, square);
  return sharp(image).resize(outputSide, outputSide).removeAlpha().toColourspace('srgb').jpeg({ quality: 92 }).toBuffer();
}

/**
 * Builds the square with the part outside the photo filled with one colour, the median of the photo's edge
 * pixels on those sides, and the photo on top with its edges feathered into that fill, so no hard seam
 * shows. A flat fill reads as a plain wall, where a stretched or mirrored edge would repeat hair or
 * clothing.
 */
async function fillOutside(
  source: Buffer,
  width: number,
  height: number,
  square: { left: number; top: number; side: number },
): Promise<Buffer> {
  const { left, top, side } = square;
  const padding = {
    left: Math.max(0, -left),
    top: Math.max(0, -top),
    right: Math.max(0, left + side - width),
    bottom: Math.max(0, top + side - height),
  };
  const visible = {
    left: Math.max(0, left),
    top: Math.max(0, top),
    width: Math.min(width, left + side) - Math.max(0, left),
    height: Math.min(height, top + side) - Math.max(0, top),
  };
  const alpha = featherAlpha(visible.width, visible.height, padding, Math.max(2, Math.round(side / 10)));
  const photoRgb = await sharp(source).removeAlpha().extract(visible).raw().toBuffer();
  const photoPart = await sharp(photoRgb, { raw: { width: visible.width, height: visible.height, channels: 3 } })
    .joinChannel(alpha, { raw: { width: visible.width, height: visible.height, channels: 1 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
  return sharp({ create: { width: side, height: side, channels: 3, background: await edgeMedian(source, padding) } })
    .composite([{ input: photoPart, left: visible.left - left, top: visible.top - top }])
    .png({ compressionLevel: 0 })
    .toBuffer();
}

/**
 * Returns the per-channel median colour of the photo's outermost pixels on the sides the square reaches past,
 * measured on a 64×64 copy. Those are the pixels the fill continues.
 */
async function edgeMedian(
  source: Buffer,
  padding: { left: number; top: number; right: number; bottom: number },
): Promise<{ r: number; g: number; b: number }> {
  const side = 64;
  const last = side - 1;
  const small = await sharp(source).removeAlpha().resize(side, side, { fit: 'fill' }).raw().toBuffer();
  const channels: number[][] = [[], [], []];
  for (let y = 0; y < side; y += 1) {
    for (let x = 0; x < side; x += 1) {
      const onPaddedEdge =
        (padding.left > 0 && x === 0) ||
        (padding.right > 0 && x === last) ||
        (padding.top > 0 && y === 0) ||
        (padding.bottom > 0 && y === last);
      if (onPaddedEdge) {
        for (let channel = 0; channel < 3; channel += 1) {
          channels[channel]!.push(small[(y * side + x) * 3 + channel]!);
        }
      }
    }
  }
  const [r, g, b] = channels.map((values) => values.sort((first, second) => first - second)[values.length >> 1]!);
  return { r: r!, g: g!, b: b! };
}

/** Builds an alpha channel that rises from 0 to 255 over `feather` pixels along each side that borders the fill. */
function featherAlpha(
  width: number,
  height: number,
  padding: { left: number; top: number; right: number; bottom: number },
  feather: number,
): Buffer {
  const ramp = (distance: number, padded: boolean) => (padded ? Math.min(1, (distance + 0.5) / feather) : 1);
  const alpha = Buffer.allocUnsafe(width * height);
  for (let y = 0; y < height; y += 1) {
    const vertical = Math.min(ramp(y, padding.top > 0), ramp(height - 1 - y, padding.bottom > 0));
    for (let x = 0; x < width; x += 1) {
      const horizontal = Math.min(ramp(x, padding.left > 0), ramp(width - 1 - x, padding.right > 0));
      alpha[y * width + x] = Math.round(255 * Math.min(vertical, horizontal));
    }
  }
  return alpha;
}
