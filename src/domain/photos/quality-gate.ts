import type { FaceBox } from '../../adapters/engines/generation-engine.js';

/** Reasons for rejecting a photo: stable codes the app can map to its own advice. */
export const PHOTO_REJECTION_CODES = [
  'no_face',
  'multiple_faces',
  'face_too_small',
  'too_blurry',
  'duplicate_photo',
  'different_person',
] as const;
export type PhotoRejectionCode = (typeof PHOTO_REJECTION_CODES)[number];

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
  /** Perceptual hash of the photo flipped left to right, so `compareWithJobPhotos` matches mirrored shots as `inspect` does. */
  mirroredPerceptualHash: string | null;
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
  /**
   * Runs the checks that compare a photo with the rest of its job (`duplicates`, `same_person`) again,
   * on an inspection `inspect` accepted, against the job's photos as they are when the photo is recorded.
   * Uploads to one job run concurrently, so photos accepted while this one was analysed are only seen
   * here. Compares stored numbers only, with no image work, so it can run inside a database transaction.
   */
  compareWithJobPhotos(inspection: PhotoInspection, acceptedPhotos: AcceptedPhoto[]): PhotoRejection[];
  close(): Promise<void>;
}

/** The gate for deployments that switch photo checks off: accepts every photo and lists every check as skipped. */
export const disabledQualityGate: PhotoQualityGate = {
  inspect: async () => ({
    rejections: [],
    faceBox: null,
    faceDescriptor: null,
    perceptualHash: null,
    mirroredPerceptualHash: null,
    skippedChecks: [...QUALITY_CHECKS],
  }),
  compareWithJobPhotos: () => [],
  close: async () => undefined,
};
