import type { FaceBox } from '../../adapters/engines/generation-engine.js';

/** Why a photo was rejected. Stable codes the app can map to its own advice. */
export type PhotoRejectionCode =
  | 'no_face'
  | 'multiple_faces'
  | 'face_too_small'
  | 'too_blurry'
  | 'duplicate_photo'
  | 'different_person';

/** The checks, by the names `skippedChecks` reports and QUALITY_GATE_SKIP_CHECKS accepts. */
export const QUALITY_CHECKS = ['faces', 'blur', 'duplicates', 'same_person'] as const;
export type QualityCheck = (typeof QUALITY_CHECKS)[number];

export interface PhotoRejection {
  code: PhotoRejectionCode;
  message: string;
  /** The job's photo this one conflicts with, for `duplicate_photo` and `different_person`. */
  photoId?: string;
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
  /**
   * Checks that did not run, by name (`faces`, `blur`, `duplicates`, `same_person`): switched off by
   * configuration, or impossible on this photo (`same_person` needs exactly one face).
   */
  skippedChecks: QualityCheck[];
}

/**
 * Judges a normalised photo before it is stored. `image` is the normalised photo (upright, sRGB, no
 * metadata) exactly as it will be stored; `acceptedPhotos` are the job's photos so far.
 */
export interface PhotoQualityGate {
  inspect(input: { image: Buffer; width: number; height: number; acceptedPhotos: AcceptedPhoto[] }): Promise<PhotoInspection>;
  close(): Promise<void>;
}

/** The gate for deployments that switch photo checks off: accepts every photo and lists every check as skipped. */
export const disabledQualityGate: PhotoQualityGate = {
  inspect: async () => ({
    rejections: [],
    faceBox: null,
    faceDescriptor: null,
    perceptualHash: null,
    skippedChecks: [...QUALITY_CHECKS],
  }),
  close: async () => undefined,
};
