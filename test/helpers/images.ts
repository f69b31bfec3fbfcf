import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'photos');

/** Reads a file from test/fixtures/photos. */
export function fixture(name: string): Buffer {
  return readFileSync(path.join(FIXTURES, name));
}

export type Rgb = [number, number, number];

/** Colours of the quadrants of `quadrantImage`, upright: top-left, top-right, bottom-left, bottom-right. */
export const QUADRANT_COLOURS: Rgb[] = [
  [255, 0, 0],
  [0, 200, 0],
  [0, 0, 255],
  [255, 255, 255],
];

/** Creates an upright PNG, wider than tall, with four differently coloured quadrants, so any rotation shows. */
export async function quadrantImage(width = 120, height = 60): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const quadrant = (y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1);
      pixels.set(QUADRANT_COLOURS[quadrant]!, (y * width + x) * 3);
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/**
 * Creates a JPEG whose pixels are stored turned so that a viewer applying its EXIF `orientation` (3, 6 or 8)
 * shows `upright`.
 */
export async function jpegWithOrientation(upright: Buffer, orientation: 3 | 6 | 8): Promise<Buffer> {
  // Orientation 3 shows the stored pixels turned 180°, 6 turned 90° clockwise, 8 turned 90° anticlockwise,
  // so the stored pixels are the upright image turned the other way.
  const storedTurn = { 3: 180, 6: 270, 8: 90 }[orientation];
  const stored = await sharp(upright).rotate(storedTurn).png().toBuffer();
  return sharp(stored).jpeg({ quality: 95 }).withMetadata({ orientation }).toBuffer();
}

/** GPS latitude 48° 51′ 24″ as the EXIF rationals that `jpegWithPrivateMetadata` writes. */
export const GPS_LATITUDE_RATIONALS = Buffer.from(new Uint32Array([48, 1, 51, 1, 2400, 100]).buffer);
export const CAMERA_MAKE = 'EnvisionTestCamera';
export const XMP_TOOL = 'EnvisionSecretTool';

/** Creates a JPEG with a GPS position, a camera make and model, an XMP packet and a Display P3 ICC profile. */
export async function jpegWithPrivateMetadata(image: Buffer): Promise<Buffer> {
  return sharp(image)
    .withExif({
      IFD0: { Make: CAMERA_MAKE, Model: 'Model 1', DateTime: '2024:01:02 03:04:05' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2400/100', GPSLongitudeRef: 'E', GPSLongitude: '2/1 17/1 4000/100' },
    })
    .withXmp(
      `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="${XMP_TOOL}"/></rdf:RDF></x:xmpmeta>`,
    )
    .withIccProfile('p3')
    .jpeg({ quality: 95 })
    .toBuffer();
}

/** Creates a valid 1×1 PNG, then makes its header claim `width`×`height` pixels: a few bytes that declare gigapixels. */
export async function pngDeclaring(width: number, height: number): Promise<Buffer> {
  const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toBuffer();
  // The IHDR chunk follows the 8-byte signature: length (4), type (4), width (4), height (4), … , CRC.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

/** Creates a valid JPEG, then makes its frame header claim `width`×`height` pixels. */
export async function jpegDeclaring(width: number, height: number): Promise<Buffer> {
  const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  const frame = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  // SOF0: marker (2), length (2), precision (1), height (2), width (2).
  jpeg.writeUInt16BE(height, frame + 5);
  jpeg.writeUInt16BE(width, frame + 7);
  return jpeg;
}

/** Reads the RGB colour at (x, y) of an image. */
export async function pixelAt(image: Buffer, x: number, y: number): Promise<Rgb> {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const offset = (y * info.width + x) * info.channels;
  return [data[offset]!, data[offset + 1]!, data[offset + 2]!];
}

/** True when every channel differs by at most `tolerance`; JPEG moves colours a little. */
export function closeColour(actual: Rgb, expected: Rgb, tolerance = 40): boolean {
  return actual.every((channel, index) => Math.abs(channel - expected[index]!) <= tolerance);
}
