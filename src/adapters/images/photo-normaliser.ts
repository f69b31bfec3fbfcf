import { open, readFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { ConcurrencyLimit } from './concurrency-limit.js';
import { decodeHeic } from './heic-decoder.js';
import { type ImageFormat, SNIFF_LENGTH, sniffImageFormat } from './image-format.js';

// Every upload is a different image, so libvips' operation cache would only hold memory.
sharp.cache(false);

export interface PhotoNormaliserOptions {
  /** Largest accepted width × height, checked from the file's header before any pixel is decoded. */
  maxPixels: number;
  /** Maximum length of the stored photo's long side, in pixels. Larger photos are scaled down, smaller ones kept. */
  maxDimension: number;
  /** Maximum length of the thumbnail's long side, in pixels. */
  thumbnailDimension: number;
  /** Photos decoded at the same time; each can take tens of megabytes while it is decoded. */
  concurrency: number;
}

export interface NormalisedImage {
  /** JPEG bytes: upright, sRGB, 8 bits per channel, no metadata. */
  data: Buffer;
  width: number;
  height: number;
}

export interface NormalisedPhoto {
  photo: NormalisedImage;
  thumbnail: NormalisedImage;
  /** The format of the uploaded file. */
  sourceFormat: ImageFormat;
}

export type ImageRejectionReason = 'empty' | 'unsupported_format' | 'too_many_pixels' | 'undecodable';

/** The uploaded file cannot become a photo. `message` is written for the person who sent it. */
export class ImageRejectedError extends Error {
  constructor(
    readonly reason: ImageRejectionReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImageRejectedError';
  }
}

const JPEG_QUALITY = 90;
const THUMBNAIL_JPEG_QUALITY = 80;

/**
 * Turns an uploaded JPEG, PNG, WebP or HEIC/HEIF file (recognised from its bytes) into the JPEG photo the
 * server keeps, and a thumbnail of it. The photo has its EXIF orientation applied to the pixels, is sRGB
 * with 8 bits per channel, has transparency flattened onto white and its long side bounded. No metadata
 * is carried over: no EXIF (GPS, device, time), XMP, IPTC, ICC profile or embedded thumbnail.
 */
export class PhotoNormaliser {
  private readonly limit: ConcurrencyLimit;

  constructor(private readonly options: PhotoNormaliserOptions) {
    this.limit = new ConcurrencyLimit(options.concurrency);
  }

  /** Normalises the image in `file`. Throws `ImageRejectedError` for files that are not acceptable images. */
  async normalise(file: string): Promise<NormalisedPhoto> {
    const head = await readHead(file);
    if (head.length === 0) {
      throw new ImageRejectedError('empty', 'The image file is empty.');
    }
    const sniffed = sniffImageFormat(head);
    if (sniffed.format === undefined) {
      const problem = sniffed.name === 'unknown' ? 'The file is not an image in a format this server reads' : `${sniffed.name} files are not accepted`;
      throw new ImageRejectedError('unsupported_format', `${problem}. Send a JPEG, PNG, WebP or HEIC photo.`);
    }

    await this.checkDimensions(file, sniffed.format);
    return this.limit.run(() => this.convert(file, sniffed.format!));
  }

  /** Reads width and height from the header only, so a small file that declares gigapixels is never decoded. */
  private async checkDimensions(file: string, format: ImageFormat): Promise<void> {
    let metadata;
    try {
      // sharp applies its own default pixel limit even to header reads; this check reports the real size.
      metadata = await sharp(file, { limitInputPixels: false }).metadata();
    } catch (error) {
      throw undecodable(error);
    }
    const { width, height } = metadata;
    if (width === undefined || height === undefined || width < 1 || height < 1) {
      throw new ImageRejectedError('undecodable', 'The image has no readable width and height. Send the photo again, or another one.');
    }
    // sharp names the formats as ImageFormat does, so a mismatch means the bytes only begin like an image.
    if (metadata.format !== format) {
      throw new ImageRejectedError('undecodable', 'The image file is damaged: its content does not match its format.');
    }
    if (width * height > this.options.maxPixels) {
      const megapixels = (width * height) / 1e6;
      throw new ImageRejectedError(
        'too_many_pixels',
        `The image is ${width}×${height} pixels (${megapixels.toFixed(1)} megapixels); the limit is ${this.options.maxPixels / 1e6} megapixels. Send a smaller photo.`,
      );
    }
  }

  private async convert(file: string, format: ImageFormat): Promise<NormalisedPhoto> {
    try {
      const source = format === 'heif' ? await this.openHeic(file) : this.openWithSharp(file);
      const { data, info } = await source
        .resize({ width: this.options.maxDimension, height: this.options.maxDimension, fit: 'inside', withoutEnlargement: true })
        .flatten({ background: '#ffffff' })
        .toColourspace('srgb')
        .jpeg({ quality: JPEG_QUALITY })
        .toBuffer({ resolveWithObject: true });

      const thumbnail = await sharp(data)
        .resize({ width: this.options.thumbnailDimension, height: this.options.thumbnailDimension, fit: 'inside', withoutEnlargement: true })
        .jpeg({ quality: THUMBNAIL_JPEG_QUALITY })
        .toBuffer({ resolveWithObject: true });

      return {
        photo: { data, width: info.width, height: info.height },
        thumbnail: { data: thumbnail.data, width: thumbnail.info.width, height: thumbnail.info.height },
        sourceFormat: format,
      };
    } catch (error) {
      throw undecodable(error);
    }
  }

  private openWithSharp(file: string): Sharp {
    // failOn 'warning' rejects truncated and corrupt data instead of filling the missing rows with grey.
    // Without keepMetadata or withMetadata, sharp writes no metadata and converts an embedded ICC profile to sRGB.
    return sharp(file, { failOn: 'warning', limitInputPixels: this.options.maxPixels, sequentialRead: true }).autoOrient();
  }

  private async openHeic(file: string): Promise<Sharp> {
    // The prebuilt sharp reads HEIF headers but has no HEVC decoder, so the pixels come from libheif.
    const decoded = await decodeHeic(await readFile(file));
    return sharp(decoded.data, { raw: { width: decoded.width, height: decoded.height, channels: 4 }, limitInputPixels: this.options.maxPixels });
  }
}

async function readHead(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(SNIFF_LENGTH);
    const { bytesRead } = await handle.read(buffer, 0, SNIFF_LENGTH, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function undecodable(cause: unknown): ImageRejectedError {
  return new ImageRejectedError(
    'undecodable',
    'The image could not be decoded: the file is damaged or incomplete. Send the photo again, or another one.',
    { cause },
  );
}
