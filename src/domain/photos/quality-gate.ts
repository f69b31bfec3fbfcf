import type { FaceBox } from '../../adapters/engines/generation-engine.js';

/** Why a photo was rejected. Stable codes the app can map to its own advice. */
export type PhotoRejectionCode =
  | 'no_face'
  | 'multiple_faces'
  | 'face_too_small'
  | 'too_blurry'
  | 'duplicate_photo'
  | 'different_person';

export interface PhotoRejection {
  code: PhotoRejectionCode;
  message: string;
}

/** A photo the job already holds, with what the gate stored about it. */
export interface AcceptedPhoto {
  id: string;
  perceptualHash: string | null;
  faceDescriptor: number[] | null;
}

export interface PhotoInspection {
  /** Every reason that applies; empty when the photo is accepted. */
  rejections: PhotoRejection[];
  faceBox: FaceBox | null;
  faceDescriptor: number[] | null;
  perceptualHash: string | null;
  /** Checks that did not run (switched off by configuration), by name. */
  skippedChecks: string[];
}

/**
 * Judges a normalised photo before it is stored. `image` is the normalised photo (upright, sRGB, no
 * metadata) exactly as it will be stored; `acceptedPhotos` are the job's photos so far.
 */
export interface PhotoQualityGate {
  inspect(input: { image: Buffer; width: number; height: number; acceptedPhotos: AcceptedPhoto[] }): Promise<PhotoInspection>;
  close(): Promise<void>;
}

/** The gate for deployments that switch photo checks off: accepts every photo and says so. */
export const disabledQualityGate: PhotoQualityGate = {
  inspect: async () => ({
    rejections: [],
    faceBox: null,
    faceDescriptor: null,
    perceptualHash: null,
    skippedChecks: ['faces', 'blur', 'duplicates', 'same_person'],
  }),
  close: async () => undefined,
};
