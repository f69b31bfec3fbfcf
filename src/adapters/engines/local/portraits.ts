import sharp from 'sharp';
import { isValidStorageKey, type ObjectStorage } from '../../storage/object-storage.js';
import { EngineError, type EnginePhoto, type FaceBox } from '../generation-engine.js';
import type { PreparedPortrait } from './preparation.js';
import { cutSquare } from './square-cut.js';
import { messageOf, readStoredObject, writeStoredObject } from './stored-objects.js';
import { clamp } from './variation.js';

/** Side in pixels of every prepared portrait, the same as the output, so rendering rarely scales up twice. */
export const PORTRAIT_SIDE = 1024;

/**
 * Width of a portrait in subject sizes. Four take in the head, the shoulders and some background, which
 * leaves each look room to zoom in (headshots) or stay wide (travel scenes).
 */
const SUBJECT_SPAN = 4;

/** Long side of the copy that sharp's attention strategy examines. The focal point is scaled back to the photo. */
const ATTENTION_WORKING_SIDE = 256;

/** Storage key of a prepared portrait, under the job's prefix so deleting the job deletes it. */
export function portraitKey(jobId: string, photoId: string): string {
  const key = `jobs/${jobId}/engines/local/portraits/${photoId}.jpg`;
  if (!isValidStorageKey(key)) {
    throw new EngineError(`The job id "${jobId}" and photo id "${photoId}" do not form a valid storage key`, false);
  }
  return key;
}

/**
 * Reads one photo, cuts a square centred on its face box (or, without one, on the point sharp's attention
 * strategy picks) and stores it as a 1024×1024 JPEG. Where the square reaches past the photo's edges it is
 * filled with a plain colour taken from the photo's border, so the subject stays exactly in the centre.
 */
export async function preparePortrait(
  jobId: string,
  photo: EnginePhoto,
  storage: ObjectStorage,
  signal: AbortSignal,
): Promise<PreparedPortrait> {
  const storageKey = portraitKey(jobId, photo.id);
  const source = await readStoredObject(
    storage,
    photo.storageKey,
    {
      label: `photo ${photo.id}`,
      missingUserMessage: 'A photo of this job is missing. Upload your photos again, then start the pack again.',
    },
    signal,
  );

  const { width, height } = await decodeSize(source, photo.id);
  const face = validFaceBox(photo.faceBox, width, height);
  const subject = face === null ? await salientSubject(source, width, height, photo.id) : faceSubject(face);
  signal.throwIfAborted();

  const side = Math.max(64, Math.round(Math.min(SUBJECT_SPAN * subject.size, Math.max(width, height))));
  const square = {
    left: Math.round(subject.centreX - side / 2),
    top: Math.round(subject.centreY - side / 2),
    side,
  };
  let portrait: Buffer;
  try {
    portrait = await cutSquare(source, width, height, square, PORTRAIT_SIDE);
  } catch (error) {
    throw undecodable(photo.id, error);
  }
  signal.throwIfAborted();

  await writeStoredObject(storage, storageKey, portrait, 'image/jpeg');
  return {
    photoId: photo.id,
    storageKey,
    subject: face === null ? 'salient' : 'face',
    subjectScale: Math.min(1, subject.size / side),
  };
}

interface Subject {
  centreX: number;
  centreY: number;
  /** The face box's larger side, or a quarter of the photo's short side, in photo pixels. */
  size: number;
}

/** Clips the face box to the photo; a box with nothing left inside counts as no face. */
function validFaceBox(box: FaceBox | null, width: number, height: number): FaceBox | null {
  if (box === null || ![box.x, box.y, box.width, box.height].every(Number.isFinite)) {
    return null;
  }
  const left = clamp(box.x, 0, width);
  const top = clamp(box.y, 0, height);
  const right = clamp(box.x + box.width, 0, width);
  const bottom = clamp(box.y + box.height, 0, height);
  if (right - left < 1 || bottom - top < 1) {
    return null;
  }
  return { x: left, y: top, width: right - left, height: bottom - top };
}

function faceSubject(face: FaceBox): Subject {
  return {
    centreX: face.x + face.width / 2,
    centreY: face.y + face.height / 2,
    size: Math.max(face.width, face.height),
  };
}

/**
 * Finds the most salient point with sharp's attention strategy (libvips smartcrop: luminance frequency,
 * saturation and skin tones). sharp reports the focal point only when it crops, so the working copy is
 * asked for one row fewer than it has.
 */
async function salientSubject(source: Buffer, width: number, height: number, photoId: string): Promise<Subject> {
  const scale = Math.min(1, ATTENTION_WORKING_SIDE / Math.max(width, height));
  const workingWidth = Math.max(1, Math.round(width * scale));
  const workingHeight = Math.max(2, Math.round(height * scale));
  const fallback = { centreX: width / 2, centreY: height / 2, size: Math.min(width, height) / SUBJECT_SPAN };
  try {
    const { info } = await sharp(source)
      .resize(workingWidth, workingHeight - 1, { fit: 'cover', position: 'attention' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.attentionX === undefined || info.attentionY === undefined) {
      return fallback;
    }
    return {
      centreX: clamp(info.attentionX / scale, 0, width),
      centreY: clamp(info.attentionY / scale, 0, height),
      size: fallback.size,
    };
  } catch (error) {
    throw undecodable(photoId, error);
  }
}

async function decodeSize(source: Buffer, photoId: string): Promise<{ width: number; height: number }> {
  try {
    const metadata = await sharp(source).metadata();
    if (metadata.width === undefined || metadata.height === undefined) {
      throw new Error('the image has no dimensions');
    }
    return { width: metadata.width, height: metadata.height };
  } catch (error) {
    throw undecodable(photoId, error);
  }
}

function undecodable(photoId: string, error: unknown): EngineError {
  if (error instanceof EngineError) {
    return error;
  }
  return new EngineError(
    `Photo ${photoId} could not be decoded: ${messageOf(error)}`,
    false,
    'A photo of this job could not be read. Upload it again, then start the pack again.',
    { cause: error },
  );
}

