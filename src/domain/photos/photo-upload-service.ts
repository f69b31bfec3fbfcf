import { randomUUID } from 'node:crypto';
import type { PhotoFeaturesRow, PhotosRepository } from '../../adapters/database/repositories/photos-repository.js';
import type { FaceBox } from '../../adapters/engines/generation-engine.js';
import { ImageRejectedError, type NormalisedPhoto, type PhotoNormaliser } from '../../adapters/images/photo-normaliser.js';
import type { ObjectStorage } from '../../adapters/storage/object-storage.js';
import type { Clock } from '../clock.js';
import { type AppError, appError, isAppError } from '../errors.js';
import type { Job, JobService } from '../jobs/job-service.js';
import type { AcceptedPhoto, PhotoInspection, PhotoQualityGate, PhotoRejection, QualityCheck } from './quality-gate.js';

export interface PhotoUploadLimits {
  maxPhotosPerJob: number;
  /** Lifetime of the thumbnail link in the response, in seconds. */
  signedUrlTtlSeconds: number;
}

/** Summary of a stored photo, with the fields the app shows. */
export interface UploadedPhoto {
  jobId: string;
  photoId: string;
  photoCount: number;
  maxPhotos: number;
  width: number;
  height: number;
  thumbnailUrl: string;
  /** The face in pixels of the stored photo. Null without exactly one face, which only the disabled gate or a skipped `faces` check lets through. */
  faceBox: FaceBox | null;
  skippedChecks: QualityCheck[];
}

/** The subset of a pino logger this service writes to. */
export interface WarningLogger {
  warn(details: object, message: string): void;
}

const STORED_CONTENT_TYPE = 'image/jpeg';

/**
 * Retry-After, in seconds, when the quality gate failed: the same as the analysis pool sends when its
 * queue is full. A photo takes 0.3 to 1 s per thread, so a few seconds let a burst drain.
 */
const QUALITY_GATE_RETRY_AFTER_SECONDS = 5;

/** Returns the storage keys of a job's photo and of its thumbnail. */
export function photoStorageKeys(jobId: string, photoId: string): { photo: string; thumbnail: string } {
  return { photo: `jobs/${jobId}/photos/${photoId}.jpg`, thumbnail: `jobs/${jobId}/thumbnails/${photoId}.jpg` };
}

/**
 * Adds selfies to jobs: normalises the uploaded file, runs the quality gate, stores the photo and its
 * thumbnail, and records it within the job's photo limit. A photo that fails any step leaves nothing
 * behind: no stored object, no row, the job's count unchanged.
 */
export class PhotoUploadService {
  constructor(
    private readonly dependencies: {
      jobs: JobService;
      photos: PhotosRepository;
      normaliser: PhotoNormaliser;
      qualityGate: PhotoQualityGate;
      storage: ObjectStorage;
      clock: Clock;
      limits: PhotoUploadLimits;
    },
  ) {}

  /**
   * Returns the job when it belongs to `userId` and has room for another photo; throws `job_not_found`
   * or `too_many_photos`. Uploads call it before reading the file, and `addPhoto` checks again at the end
   * inside the transaction that settles concurrent uploads.
   */
  async getJobAcceptingPhotos(userId: string, jobId: string): Promise<Job> {
    const job = await this.dependencies.jobs.getOwnedJob(userId, jobId);
    if (job.photoCount >= this.dependencies.limits.maxPhotosPerJob) {
      throw this.tooManyPhotos();
    }
    return job;
  }

  /** Adds the image in `file` (a temporary file the caller owns and deletes) to the user's job. */
  async addPhoto(input: { userId: string; jobId: string; file: string; log: WarningLogger }): Promise<UploadedPhoto> {
    const { photos, qualityGate, storage, clock, limits } = this.dependencies;
    const job = await this.getJobAcceptingPhotos(input.userId, input.jobId);
    const normalised = await this.normalise(input.file);

    const inspection = await this.inspect(job.id, normalised);
    if (inspection.rejections.length > 0) {
      throw photoRejected(inspection.rejections);
    }

    // NOTE: the files are stored before the transaction that records them. A process that stops between
    // the two leaves orphan files without a photo row, and nothing removes them yet.
    const photoId = randomUUID();
    const keys = photoStorageKeys(job.id, photoId);
    let photoCount: number | undefined;
    try {
      const stored = await storage.put(keys.photo, normalised.photo.data, STORED_CONTENT_TYPE);
      await storage.put(keys.thumbnail, normalised.thumbnail.data, STORED_CONTENT_TYPE);
      photoCount = await photos.insertPhotoWithinLimit(
        {
          id: photoId,
          job_id: job.id,
          storage_key: keys.photo,
          thumbnail_key: keys.thumbnail,
          content_type: STORED_CONTENT_TYPE,
          width: normalised.photo.width,
          height: normalised.photo.height,
          bytes: stored.bytes,
          perceptual_hash: inspection.perceptualHash,
          face_box: inspection.faceBox === null ? null : JSON.stringify(inspection.faceBox),
          face_descriptor: inspection.faceDescriptor === null ? null : JSON.stringify(inspection.faceDescriptor),
          created_at: clock.now(),
        },
        limits.maxPhotosPerJob,
        // Photos of the job accepted while this one was analysed were not in the inspection's list.
        (jobPhotos) => {
          const rejections = qualityGate.compareWithJobPhotos(inspection, jobPhotos.map(toAcceptedPhoto));
          if (rejections.length > 0) {
            throw photoRejected(rejections);
          }
        },
      );
      if (photoCount === undefined) {
        throw this.tooManyPhotos();
      }
    } catch (error) {
      await this.deleteStoredObjects([keys.photo, keys.thumbnail], input.log);
      throw error;
    }

    return {
      jobId: job.id,
      photoId,
      photoCount,
      maxPhotos: limits.maxPhotosPerJob,
      width: normalised.photo.width,
      height: normalised.photo.height,
      thumbnailUrl: await storage.signedUrl(keys.thumbnail, limits.signedUrlTtlSeconds),
      faceBox: inspection.faceBox,
      skippedChecks: inspection.skippedChecks,
    };
  }

  /**
   * Runs the quality gate on the normalised photo against the job's photos so far. A gate that fails
   * (a crashed analysis thread, a full queue, a closed pool) has not judged the photo, so the upload gets
   * 503 `service_unavailable` with Retry-After and the client sends it again.
   */
  private async inspect(jobId: string, normalised: NormalisedPhoto): Promise<PhotoInspection> {
    const acceptedPhotos = (await this.dependencies.photos.listPhotosOfJob(jobId)).map(toAcceptedPhoto);
    try {
      return await this.dependencies.qualityGate.inspect({
        image: normalised.photo.data,
        width: normalised.photo.width,
        height: normalised.photo.height,
        acceptedPhotos,
      });
    } catch (error) {
      if (isAppError(error) && error.code === 'service_unavailable') {
        throw error;
      }
      throw appError('service_unavailable', 'The photo could not be checked right now. Retry the upload in a few seconds.', {
        headers: { 'Retry-After': String(QUALITY_GATE_RETRY_AFTER_SECONDS) },
        cause: error,
      });
    }
  }

  private async normalise(file: string): Promise<NormalisedPhoto> {
    try {
      return await this.dependencies.normaliser.normalise(file);
    } catch (error) {
      if (error instanceof ImageRejectedError) {
        throw imageRejected(error);
      }
      throw error;
    }
  }

  /**
   * Deletes one of the user's photos with its thumbnail and the engine preparations made from the job's
   * photos, so the next pack prepares again from the photos that remain. Throws `job_not_found`,
   * `photo_not_found`, or `job_busy` while a pack is being generated from the job.
   */
  async deletePhoto(input: { userId: string; jobId: string; photoId: string; log: WarningLogger }): Promise<{ photoCount: number }> {
    const { jobs, photos, storage, clock } = this.dependencies;
    await jobs.getOwnedJob(input.userId, input.jobId);

    const outcome = await photos.deletePhotoOfIdleJob(input.jobId, input.photoId, clock.now());
    if (outcome === 'not_found') {
      throw appError('photo_not_found', `Job ${input.jobId} has no photo ${input.photoId}. Use the photoId that POST /upload returned.`, {
        details: [{ field: 'query parameter photoId', message: 'is not a photo of this job' }],
      });
    }
    if (outcome === 'job_busy') {
      throw appError('job_busy', 'A pack is being generated from this job, so its photos cannot change now. Try again when GET /job-status shows it finished.', {
        details: [{ field: 'query parameter jobId', message: 'has a pack run that is queued or processing' }],
      });
    }

    // The row is gone, so no link to the files can be made any more; a failed delete leaves orphans only.
    const keys = [outcome.storage_key, outcome.thumbnail_key];
    try {
      await storage.delete(keys);
      await storage.deletePrefix(`jobs/${input.jobId}/engines/`);
    } catch (error) {
      input.log.warn({ err: error, jobId: input.jobId, keys }, 'could not delete the files of a deleted photo');
    }
    const job = await jobs.getOwnedJob(input.userId, input.jobId);
    return { photoCount: job.photoCount };
  }

  private async deleteStoredObjects(keys: string[], log: WarningLogger): Promise<void> {
    try {
      await this.dependencies.storage.delete(keys);
    } catch (error) {
      // The upload already failed for another reason, which the client gets; the files are only orphans.
      log.warn({ err: error, keys }, 'could not delete the stored files of a failed upload');
    }
  }

  private tooManyPhotos(): AppError {
    const max = this.dependencies.limits.maxPhotosPerJob;
    return appError('too_many_photos', `This job already contains ${max} photos, the maximum for a job. Open a new job with GET /initalize-job.`, {
      details: [{ field: 'jobId', message: `contains the maximum of ${max} photos` }],
    });
  }
}

function imageRejected(error: ImageRejectedError): AppError {
  const outcomes = {
    empty: { code: 'invalid_image', detail: 'is empty' },
    undecodable: { code: 'invalid_image', detail: 'could not be decoded' },
    unsupported_format: { code: 'unsupported_image_format', detail: 'is not a JPEG, PNG, WebP or HEIC image' },
    too_many_pixels: { code: 'image_too_large', detail: 'has more pixels than the limit' },
  } as const;
  const outcome = outcomes[error.reason];
  return appError(outcome.code, error.message, { details: [{ field: 'image', message: outcome.detail }], cause: error });
}

/** Builds the 422 for a rejected photo: one detail per reason, with the conflicting photo's id where there is one. */
function photoRejected(rejections: PhotoRejection[]): AppError {
  const reasons = rejections.map((rejection) => rejection.message).join(' ');
  return appError('photo_rejected', `The photo was not accepted. ${reasons}`, {
    details: rejections.map((rejection) => ({
      field: 'image',
      code: rejection.code,
      message: rejection.message,
      ...(rejection.photoId === undefined ? {} : { photoId: rejection.photoId }),
    })),
  });
}

function toAcceptedPhoto(row: PhotoFeaturesRow): AcceptedPhoto {
  return {
    id: row.id,
    perceptualHash: row.perceptual_hash,
    faceDescriptor: row.face_descriptor === null ? null : (JSON.parse(row.face_descriptor) as number[]),
  };
}
