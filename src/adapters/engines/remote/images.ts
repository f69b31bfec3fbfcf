import { buffer as readStream } from 'node:stream/consumers';
import sharp from 'sharp';
import type { EnginePhoto, RenderedImage } from '../generation-engine.js';
import type { ObjectStorage } from '../../storage/object-storage.js';
import { retryableError } from './failures.js';

const CONTENT_TYPES: Record<string, RenderedImage['contentType']> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};

/** Maximum side of a reference photo sent to a provider, in pixels. Identity models work at about 1024 pixels. */
export const REFERENCE_PHOTO_MAX_SIDE = 1536;

/**
 * Reads an engine's output and returns it with its type and size. Anything but a JPEG, PNG or WebP is
 * rejected as retryable: a truncated download looks the same as a broken file.
 */
export async function toRenderedImage(data: Buffer, source: string): Promise<RenderedImage> {
  let metadata: sharp.Metadata;
  try {
    metadata = await sharp(data).metadata();
  } catch (error) {
    throw retryableError(`${source} is not a readable image`, error);
  }
  const contentType = CONTENT_TYPES[metadata.format ?? ''];
  if (contentType === undefined || metadata.width === undefined || metadata.height === undefined) {
    throw retryableError(`${source} is a ${metadata.format ?? 'unknown'} file, not a JPEG, PNG or WebP image`);
  }
  return { data, contentType, width: metadata.width, height: metadata.height };
}

/**
 * Orders a job's photos for use as references: photos with a detected face first, largest face first,
 * so templates that take one reference get the clearest face.
 */
export function rankReferencePhotos(photos: EnginePhoto[]): EnginePhoto[] {
  const faceArea = (photo: EnginePhoto) => (photo.faceBox === null ? -1 : photo.faceBox.width * photo.faceBox.height);
  return [...photos].sort((left, right) => faceArea(right) - faceArea(left));
}

/** Reads a stored photo and re-encodes it as a JPEG no larger than REFERENCE_PHOTO_MAX_SIDE. */
export async function loadReferencePhoto(storage: ObjectStorage, photo: EnginePhoto): Promise<Buffer> {
  const stored = await storage.get(photo.storageKey);
  const original = await readStream(stored.body);
  return sharp(original)
    .rotate()
    .resize({ width: REFERENCE_PHOTO_MAX_SIDE, height: REFERENCE_PHOTO_MAX_SIDE, fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: 90 })
    .toBuffer();
}
