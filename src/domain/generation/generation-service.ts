import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import yazl from 'yazl';
import type { GenerationRepository, NewTask } from '../../adapters/database/repositories/generation-repository.js';
import type { PhotosRepository } from '../../adapters/database/repositories/photos-repository.js';
import type { UserRepository } from '../../adapters/database/repositories/user-repository.js';
import type { JobRow } from '../../adapters/database/schema.js';
import type { JobService } from '../jobs/job-service.js';
import type { PackForGeneration, PackService } from '../packs/pack-service.js';
import type { TaskQueue } from '../../adapters/queue/task-queue.js';
import type { ObjectStorage } from '../../adapters/storage/object-storage.js';
import type { GenerationConfig } from '../../config/config.js';
import type { Clock } from '../clock.js';
import { appError } from '../errors.js';
import type { EngineRegistry } from './engine-registry.js';
import { type JobStatusView, type RunSummary, buildJobStatusView, combineRunStatuses, summarizeRun } from './job-status.js';
import { archiveEntryName, jobPrefix, taskSeed } from './storage-keys.js';
import { isSubscriptionActive, subscriptionExpiredError } from '../payments/subscription.js';

export interface GenerationServiceDependencies {
  generation: GenerationRepository;
  /** The packs catalog: its `canRun` is the one rule for whether a pack can start. */
  packs: Pick<PackService, 'findPackForGeneration'>;
  jobs: JobService;
  photos: PhotosRepository;
  users: UserRepository;
  engines: EngineRegistry;
  queue: TaskQueue;
  storage: ObjectStorage;
  clock: Clock;
  logger: Logger;
  config: Pick<GenerationConfig, 'maxAttempts'> & { resultUrlTtlSeconds: number };
}

export interface JobListItem {
  jobId: string;
  created_at: string;
  photo_count: number;
  status: JobStatusView['status'];
  runs: RunSummary[];
}

export interface JobArchive {
  fileName: string;
  /** Exact length of the zip in bytes. */
  bytes: number;
  stream: Readable;
}

/** Starts packs on jobs and reports, packages and deletes their results. */
export class GenerationService {
  constructor(private readonly deps: GenerationServiceDependencies) {}

  /**
   * Starts `packName` on a job: records the run and one task per prompt in one transaction, then hands
   * the tasks to the queue. A pack that already ran or runs on this job returns that run unchanged.
   */
  async startJob(userId: string, jobId: string, packName: string): Promise<JobStatusView> {
    const { generation, packs } = this.deps;
    await this.requireOwnedJob(jobId, userId);
    const pack = await packs.findPackForGeneration(packName);
    if (pack === null) {
      throw appError('pack_not_found', `No pack is named "${packName}". Send a pack_name listed by /packs-info.`, {
        details: [{ field: 'pack_name', message: 'is not a known pack' }],
      });
    }

    if ((await generation.findRun(jobId, packName)) === undefined) {
      await this.createRun(userId, jobId, pack);
    }
    return this.jobStatus(userId, jobId);
  }

  private async createRun(userId: string, jobId: string, pack: PackForGeneration): Promise<void> {
    const { generation, engines, clock } = this.deps;
    if (!pack.canRun) {
      throw appError('pack_unavailable', `The "${pack.name}" pack cannot be started now. Choose another pack from /packs-info.`, {
        details: [{ field: 'pack_name', message: pack.cannotRunReason ?? 'cannot run' }],
      });
    }

    const user = await this.deps.users.findUserById(userId);
    if (user === undefined || !isSubscriptionActive(user, clock.now())) {
      throw subscriptionExpiredError();
    }

    const engineName = engines.engineNameFor(pack.engine);
    const engine = engines.get(engineName);
    if (engine === undefined) {
      this.deps.logger.error({ engine: engineName, packName: pack.name, available: engines.names() }, 'pack needs an engine this server does not have');
      throw appError('engine_unavailable', 'The image generator for this pack is not available right now. Try again later.', {
        headers: { 'Retry-After': '60' },
      });
    }

    const photoCount = (await this.deps.photos.listPhotosOfJob(jobId)).length;
    if (photoCount < engine.minimumPhotos) {
      throw appError(
        'not_enough_photos',
        `This job has ${photoCount} accepted photo(s); the pack needs at least ${engine.minimumPhotos}. Upload more with /upload.`,
        { details: [{ field: 'jobId', message: `has ${photoCount} photos, needs ${engine.minimumPhotos}`, photos: photoCount, required: engine.minimumPhotos }] },
      );
    }

    const now = clock.now();
    const runId = randomUUID();
    const tasks: NewTask[] = pack.promptsForRun.map((prompt, promptIndex) => {
      return {
        id: randomUUID(),
        promptIndex,
        prompt: prompt.prompt,
        negativePrompt: prompt.negativePrompt,
        seed: taskSeed(jobId, pack.name, promptIndex),
        imageCount: pack.numImagesPerPrompt,
      };
    });
    const { run, created } = await generation.createRunWithTasks(
      {
        id: runId,
        job_id: jobId,
        user_id: userId,
        pack_name: pack.name,
        engine: engineName,
        total_images: pack.numPrompts * pack.numImagesPerPrompt,
        created_at: now,
        updated_at: now,
      },
      tasks,
      this.deps.config.maxAttempts,
    );
    if (created) {
      this.deps.logger.info({ jobId, runId, packName: pack.name, engine: engineName, tasks: tasks.length }, 'run started');
      await this.deps.queue.enqueue(tasks.map((task) => ({ taskId: task.id, runId: run.id })));
    }
  }

  async jobStatus(userId: string, jobId: string): Promise<JobStatusView> {
    await this.requireOwnedJob(jobId, userId);
    const runs = await this.deps.generation.listRunsOfJob(jobId);
    const images = await this.deps.generation.listImagesOfJob(jobId);
    const ttl = this.deps.config.resultUrlTtlSeconds;
    const urls = await Promise.all(images.map((image) => this.deps.storage.signedUrl(image.storage_key, ttl)));
    return buildJobStatusView(jobId, runs, images, urls, this.deps.clock.now() + ttl * 1000);
  }

  async listJobs(userId: string, limit: number, cursor: string | undefined): Promise<{ jobs: JobListItem[]; next_cursor: string | null }> {
    const jobs = await this.deps.generation.listJobsOfUser(userId, limit + 1, decodeCursor(cursor));
    const page = jobs.slice(0, limit);
    const runs = await this.deps.generation.listRunsOfJobs(page.map((job) => job.id));
    const last = page.at(-1);
    return {
      jobs: page.map((job) => {
        const jobRuns = runs.filter((run) => run.job_id === job.id);
        return {
          jobId: job.id,
          created_at: new Date(job.created_at).toISOString(),
          photo_count: job.photo_count,
          status: combineRunStatuses(jobRuns),
          runs: jobRuns.map(summarizeRun),
        };
      }),
      next_cursor: jobs.length > limit && last !== undefined ? encodeCursor(last) : null,
    };
  }

  /**
   * Packs every image of a job so far into a zip that is produced while it is sent. Images are stored
   * uncompressed (they are JPEG, PNG or WebP already), which also makes the zip's length known up front.
   */
  async createJobArchive(userId: string, jobId: string): Promise<JobArchive> {
    await this.requireOwnedJob(jobId, userId);
    const images = await this.deps.generation.listImagesOfJob(jobId);
    if (images.length === 0) {
      throw appError('no_images', 'This job has no images yet. Poll /job-status until progress.done is above 0.');
    }

    const zip = new yazl.ZipFile();
    for (const image of images) {
      const name = archiveEntryName(image.pack_name, image.prompt_index, image.image_index, image.content_type);
      const options = { compress: false, size: image.bytes, mtime: new Date(image.created_at) };
      zip.addReadStreamLazy(name, options, (callback) => {
        this.deps.storage.get(image.storage_key).then(
          (object) => callback(null, object.body),
          (error: unknown) => callback(error, undefined as never),
        );
      });
    }
    let bytes = -1;
    // @types/yazl 3.3.1 leaves out the callback's argument, the archive's total size.
    const onTotalSize = (total: number) => {
      bytes = total;
    };
    zip.end(undefined, onTotalSize as () => void);
    return { fileName: `envision-${jobId}.zip`, bytes, stream: zip.outputStream as Readable };
  }

  /** Deletes a job's photos, results and records, and aborts its tasks that are running. */
  async deleteJob(userId: string, jobId: string): Promise<void> {
    const { generation, photos, storage } = this.deps;
    await this.requireOwnedJob(jobId, userId);
    const keys = [
      ...(await photos.listPhotosOfJob(jobId)).flatMap((photo) => [photo.storage_key, photo.thumbnail_key]),
      ...(await generation.listImagesOfJob(jobId)).map((image) => image.storage_key),
    ];

    // Rows go first: a worker still rendering then fails to record its images and deletes its own files.
    const runIds = await generation.deleteJob(jobId);
    this.deps.queue.cancelRuns(runIds);
    await storage.delete(keys);
    await storage.deletePrefix(jobPrefix(jobId));
    this.deps.logger.info({ jobId, runs: runIds.length, objects: keys.length }, 'job deleted');
  }

  /** Throws `job_not_found` (404) unless `userId` owns the job; other users' jobs look missing. */
  private async requireOwnedJob(jobId: string, userId: string): Promise<void> {
    await this.deps.jobs.getOwnedJob(userId, jobId);
  }
}

function encodeCursor(job: JobRow): string {
  return Buffer.from(JSON.stringify([job.created_at, job.id])).toString('base64url');
}

function decodeCursor(cursor: string | undefined): { createdAt: number; id: string } | undefined {
  if (cursor === undefined) {
    return undefined;
  }
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'number' && typeof id === 'string') {
      return { createdAt, id };
    }
  } catch {
    // Reported below.
  }
  throw appError('invalid_request', 'The cursor query parameter is not one this server returned. Pass next_cursor from the previous page.', {
    details: [{ field: 'query parameter cursor', message: 'is not a valid cursor' }],
  });
}
