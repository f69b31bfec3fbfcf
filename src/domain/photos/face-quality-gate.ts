import type { FaceAnalysis, FaceAnalyzer } from '../../adapters/faces/face-analyzer.js';
import {
  type AcceptedPhoto,
  type PhotoInspection,
  type PhotoQualityGate,
  type PhotoRejection,
  QUALITY_CHECKS,
  type QualityCheck,
} from './quality-gate.js';

export interface QualityGateSettings {
  /** Checks switched off: `judgePhoto` raises none of their rejections. The analysis still runs for the rest. */
  skippedChecks: QualityCheck[];
  /** Smallest face accepted: the longer side of the face box over the shorter side of the photo. */
  minFaceSize: number;
  /** Smallest sharpness accepted (normalised variance of the Laplacian; see image-measures.ts). */
  minSharpness: number;
  /** Perceptual hashes at most this many bits apart (of 64) are the same shot. */
  duplicateMaxDistance: number;
  /** Face descriptors further apart than this (Euclidean) are different people. */
  samePersonMaxDistance: number;
}

/**
 * The photo quality gate: analyses the photo (on worker threads, through `analyzer`), then applies the
 * rules in `judgePhoto`.
 */
export class FaceQualityGate implements PhotoQualityGate {
  constructor(
    private readonly analyzer: FaceAnalyzer,
    private readonly settings: QualityGateSettings,
  ) {}

  async inspect(input: { image: Buffer; width: number; height: number; acceptedPhotos: AcceptedPhoto[] }): Promise<PhotoInspection> {
    const analysis = await this.analyzer.analyze(input.image);
    return judgePhoto(analysis, input.acceptedPhotos, this.settings);
  }

  compareWithJobPhotos(inspection: PhotoInspection, acceptedPhotos: AcceptedPhoto[]): PhotoRejection[] {
    return compareWithJob(inspection, acceptedPhotos, this.settings, new Set(inspection.skippedChecks));
  }

  close(): Promise<void> {
    return this.analyzer.close();
  }
}

/**
 * Applies the gate's rules to one analysed photo and returns every rejection that applies, with the
 * values to store for an accepted photo. Pure, so the rules are tested without the models.
 */
export function judgePhoto(analysis: FaceAnalysis, acceptedPhotos: AcceptedPhoto[], settings: QualityGateSettings): PhotoInspection {
  const skipped = new Set<QualityCheck>(settings.skippedChecks);
  const rejections: PhotoRejection[] = [];
  const mainFace = analysis.faces[0];

  if (!skipped.has('faces')) {
    rejections.push(...checkFaces(analysis, settings));
  }
  if (!skipped.has('blur')) {
    // The face decides when there is one; a blurred background behind a sharp face is fine.
    const measured = mainFace?.sharpness ?? analysis.imageSharpness;
    if (measured < settings.minSharpness) {
      rejections.push({
        code: 'too_blurry',
        message: mainFace
          ? 'The face in this photo is too blurry. Hold the phone still, tap your face to focus and take the photo again.'
          : 'This photo is too blurry to find a face in it. Hold the phone still, tap your face to focus and take the photo again.',
      });
    }
  }
  if (analysis.faceDescriptor === null) {
    // Without exactly one face there is no descriptor to compare: the check cannot run on this photo.
    skipped.add('same_person');
  }
  rejections.push(...compareWithJob(analysis, acceptedPhotos, settings, skipped));

  const singleFace = analysis.faces.length === 1 ? analysis.faces[0]! : null;
  return {
    rejections,
    faceBox: singleFace?.box ?? null,
    faceDescriptor: singleFace === null ? null : analysis.faceDescriptor,
    perceptualHash: analysis.perceptualHash,
    mirroredPerceptualHash: analysis.mirroredPerceptualHash,
    skippedChecks: QUALITY_CHECKS.filter((check) => skipped.has(check)),
  };
}

/** A photo's hashes and face descriptor, the values compared with the job's other photos. */
interface PhotoFeatures {
  perceptualHash: string | null;
  mirroredPerceptualHash: string | null;
  faceDescriptor: number[] | null;
}

/** Runs the `duplicates` and `same_person` checks that `skipped` leaves on. */
function compareWithJob(
  photo: PhotoFeatures,
  acceptedPhotos: AcceptedPhoto[],
  settings: QualityGateSettings,
  skipped: ReadonlySet<QualityCheck>,
): PhotoRejection[] {
  const rejections: PhotoRejection[] = [];
  if (!skipped.has('duplicates') && photo.perceptualHash !== null) {
    const duplicate = findDuplicate(photo.perceptualHash, photo.mirroredPerceptualHash, acceptedPhotos, settings.duplicateMaxDistance);
    if (duplicate !== undefined) {
      rejections.push({
        code: 'duplicate_photo',
        message: `This photo is the same shot as photo ${duplicate}, which the job already has. Upload a different photo.`,
        photoId: duplicate,
      });
    }
  }
  if (!skipped.has('same_person') && photo.faceDescriptor !== null) {
    const mismatch = findOtherPerson(photo.faceDescriptor, acceptedPhotos, settings.samePersonMaxDistance);
    if (mismatch !== undefined) {
      rejections.push({
        code: 'different_person',
        message: `The face in this photo does not match the face in photo ${mismatch}. Upload photos of one person only, or delete photo ${mismatch} with DELETE /photo if it is not you.`,
        photoId: mismatch,
      });
    }
  }
  return rejections;
}

function checkFaces(analysis: FaceAnalysis, settings: QualityGateSettings): PhotoRejection[] {
  const mainFace = analysis.faces[0];
  if (mainFace === undefined) {
    return [
      {
        code: 'no_face',
        message: 'No face was found in this photo. Take a photo of yourself facing the camera, with your whole face visible and well lit.',
      },
    ];
  }

  const rejections: PhotoRejection[] = [];
  if (analysis.faces.length > 1) {
    rejections.push({
      code: 'multiple_faces',
      message: `This photo shows ${analysis.faces.length} faces. Upload photos in which you are the only person.`,
    });
  }
  const faceSize = Math.max(mainFace.box.width, mainFace.box.height) / Math.min(analysis.width, analysis.height);
  if (faceSize < settings.minFaceSize) {
    rejections.push({
      code: 'face_too_small',
      message: `The face is too small in this photo: it spans ${percent(faceSize)} of the frame, and at least ${percent(settings.minFaceSize)} is needed. Move closer to the camera or crop the photo around your face.`,
    });
  }
  return rejections;
}

/** Finds the closest accepted photo this one is a near-duplicate of, mirrored shots included. */
function findDuplicate(hash: string, mirroredHash: string | null, acceptedPhotos: AcceptedPhoto[], maxDistance: number): string | undefined {
  let closest: { id: string; distance: number } | undefined;
  for (const photo of acceptedPhotos) {
    if (photo.perceptualHash === null) {
      continue;
    }
    const distance = Math.min(
      hammingDistance(hash, photo.perceptualHash),
      mirroredHash === null ? Number.POSITIVE_INFINITY : hammingDistance(mirroredHash, photo.perceptualHash),
    );
    if (distance <= maxDistance && (closest === undefined || distance < closest.distance)) {
      closest = { id: photo.id, distance };
    }
  }
  return closest?.id;
}

/**
 * Finds the accepted photo to name when this face is not the job's person, or undefined when it is.
 * The face must be within `maxDistance` of at least half of the job's faces. Two photos of one person
 * can land just over the threshold (strong light, a turned head), so one such pair should not block the
 * upload, while a different person is far from all of them. The photo named is the furthest one.
 */
function findOtherPerson(descriptor: number[], acceptedPhotos: AcceptedPhoto[], maxDistance: number): string | undefined {
  const distances = acceptedPhotos
    .filter((photo): photo is AcceptedPhoto & { faceDescriptor: number[] } => photo.faceDescriptor !== null)
    .map((photo) => ({ id: photo.id, distance: euclideanDistance(descriptor, photo.faceDescriptor) }));
  const mismatches = distances.filter((entry) => entry.distance > maxDistance);
  if (mismatches.length === 0 || mismatches.length * 2 <= distances.length) {
    return undefined;
  }
  return mismatches.reduce((furthest, entry) => (entry.distance > furthest.distance ? entry : furthest)).id;
}

/** Number of differing bits between two hex strings of equal length. */
export function hammingDistance(a: string, b: string): number {
  if (a.length !== b.length) {
    return Number.POSITIVE_INFINITY;
  }
  let distance = 0;
  for (let index = 0; index < a.length; index += 1) {
    let differing = Number.parseInt(a[index]!, 16) ^ Number.parseInt(b[index]!, 16);
    for (; differing > 0; differing >>= 1) {
      distance += differing & 1;
    }
  }
  return distance;
}

export function euclideanDistance(a: number[], b: number[]): number {
  if (a.length !== b.length) {
    return Number.POSITIVE_INFINITY;
  }
  let sum = 0;
  for (let index = 0; index < a.length; index += 1) {
    sum += (a[index]! - b[index]!) ** 2;
  }
  return Math.sqrt(sum);
}

function percent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}
