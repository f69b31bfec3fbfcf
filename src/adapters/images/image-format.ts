/** The image formats that uploads accept. `heif` covers HEIC, the HEVC-coded HEIF that iPhones save. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'heif';

export interface SniffedFormat {
  /** The accepted format the bytes are in, or undefined for anything else. */
  format: ImageFormat | undefined;
  /** A name for messages, such as `JPEG`, `GIF` or `SVG`; `unknown` when nothing matched. */
  name: string;
}

/** Bytes that `sniffImageFormat` needs from the start of a file. */
export const SNIFF_LENGTH = 512;

// ISO base media file brands (ISO/IEC 23008-12 and the HEVC image brands). AVIF shares the container but
// uses the AV1 codec, which is not accepted.
const HEVC_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs']);
const GENERIC_HEIF_BRANDS = new Set(['mif1', 'msf1', 'mif2']);
const AVIF_BRANDS = new Set(['avif', 'avis']);

/**
 * Recognises an image format from the first bytes of a file (its magic numbers), never from a name or a
 * declared type.
 */
export function sniffImageFormat(head: Buffer): SniffedFormat {
  if (startsWith(head, [0xff, 0xd8, 0xff])) {
    return { format: 'jpeg', name: 'JPEG' };
  }
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) {
    return { format: 'png', name: 'PNG' };
  }
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') {
    return { format: 'webp', name: 'WebP' };
  }
  if (ascii(head, 4, 8) === 'ftyp') {
    return sniffIsoMedia(head);
  }
  return { format: undefined, name: nameOfOtherContent(head) };
}

/** Reads the `ftyp` box: its major brand and the compatible brands that follow. */
function sniffIsoMedia(head: Buffer): SniffedFormat {
  const boxSize = head.length >= 4 ? head.readUInt32BE(0) : 0;
  const brands = [ascii(head, 8, 12)];
  for (let offset = 16; offset + 4 <= Math.min(boxSize, head.length); offset += 4) {
    brands.push(ascii(head, offset, offset + 4));
  }
  if (brands.some((brand) => HEVC_BRANDS.has(brand))) {
    return { format: 'heif', name: 'HEIC' };
  }
  if (brands.some((brand) => AVIF_BRANDS.has(brand))) {
    return { format: undefined, name: 'AVIF' };
  }
  if (brands.some((brand) => GENERIC_HEIF_BRANDS.has(brand))) {
    return { format: 'heif', name: 'HEIF' };
  }
  return { format: undefined, name: 'video or other ISO media' };
}

function nameOfOtherContent(head: Buffer): string {
  const text = ascii(head, 0, head.length).replace(/^\uFEFF|^\xEF\xBB\xBF/, '').trimStart().toLowerCase();
  if (ascii(head, 0, 3) === 'GIF') {
    return 'GIF';
  }
  if (startsWith(head, [0x49, 0x49, 0x2a, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2a])) {
    return 'TIFF';
  }
  if (ascii(head, 0, 2) === 'BM') {
    return 'BMP';
  }
  if (text.startsWith('%pdf')) {
    return 'PDF';
  }
  if (text.startsWith('<') && text.includes('<svg')) {
    return 'SVG';
  }
  return 'unknown';
}

function startsWith(head: Buffer, bytes: number[]): boolean {
  return head.length >= bytes.length && bytes.every((byte, index) => head[index] === byte);
}

function ascii(head: Buffer, start: number, end: number): string {
  return head.subarray(start, Math.min(end, head.length)).toString('latin1');
}
