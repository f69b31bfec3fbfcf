import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { appError } from '../../domain/errors.js';
import { PHOTO_REJECTION_CODES, QUALITY_CHECKS } from '../../domain/photos/quality-gate.js';
import { BearerSecurity, errorResponses } from '../schemas/common.js';
import { readUploadForm } from '../upload-form.js';

const JobResponse = Type.Object({
  jobId: Type.String({ description: 'Id of the new job; send it with every /upload of this job.' }),
});

const UploadResponse = Type.Object({
  jobId: Type.String(),
  photoId: Type.String({ description: 'Id of the stored photo.' }),
  photoCount: Type.Integer({ description: 'Number of photos in the job, this one included.' }),
  maxPhotos: Type.Integer({ description: 'Maximum number of photos per job.' }),
  width: Type.Integer({ description: 'Width of the stored photo in pixels, after rotation and scaling.' }),
  height: Type.Integer({ description: 'Height of the stored photo in pixels.' }),
  thumbnailUrl: Type.String({ description: 'Signed, expiring link to a small JPEG of the stored photo.' }),
  faceBox: Type.Union(
    [
      Type.Object({
        x: Type.Integer({ description: 'Left edge, in pixels from the left of the stored photo.' }),
        y: Type.Integer({ description: 'Top edge, in pixels from the top of the stored photo.' }),
        width: Type.Integer(),
        height: Type.Integer(),
      }),
      Type.Null(),
    ],
    {
      description:
        'The face the quality gate found, in pixels of the stored photo (`width` × `height`). Null when the photo was not analysed or, with the `faces` check switched off, has no single face.',
    },
  ),
  skippedChecks: Type.Array(Type.Enum(QUALITY_CHECKS), {
    description: 'Photo checks that did not run: switched off on this server, or impossible on this photo.',
  }),
});

/** The 422 body: a damaged image (`invalid_image`) or a photo the quality gate rejected (`photo_rejected`). */
const UnprocessablePhotoResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: '`photo_rejected` or `invalid_image`.' }),
      message: Type.String({ description: 'Every reason in one text.' }),
      requestId: Type.String({ description: 'Also sent as the x-request-id header; quote it in bug reports.' }),
      details: Type.Optional(
        Type.Array(
          Type.Object({
            field: Type.String({ description: 'Always `image`.' }),
            code: Type.Optional(
              Type.Enum(PHOTO_REJECTION_CODES, {
                description: 'For `photo_rejected`: why the photo was rejected, one entry per reason that applies.',
              }),
            ),
            message: Type.String({ description: 'A sentence the app can show the user.' }),
            photoId: Type.Optional(
              Type.String({ description: 'For `duplicate_photo` and `different_person`: the job\'s photo this one conflicts with.' }),
            ),
          }),
        ),
      ),
    }),
  },
  { description: 'The photo was not accepted; nothing of it was stored.' },
);

const UploadBody = Type.Object(
  {
    jobId: Type.String({ description: 'The jobId from /initalize-job.' }),
    image: Type.String({ format: 'binary', description: 'One JPEG, PNG, WebP or HEIC photo.' }),
  },
  { description: 'multipart/form-data; the parts may come in either order.' },
);

/** Job creation and selfie uploads. Rate limits are per user, so they run after authentication. */
export const uploadRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (app, { container }) => {
  const { uploads } = container.config;

  await app.register(multipart, {
    limits: { fileSize: uploads.maxFileBytes },
    // An `image` part counts as a file even when the client sends it without a filename.
    isPartAFile: (fieldName, contentType, fileName) =>
      fieldName === 'image' || fileName !== undefined || contentType === 'application/octet-stream',
  });
  await app.register(rateLimit, { global: false });

  const perUserRateLimit = {
    max: uploads.rateLimitPerMinute,
    timeWindow: 60_000,
    hook: 'preHandler' as const,
    keyGenerator: (request: FastifyRequest) => request.userId,
    errorResponseBuilder: (_request: FastifyRequest, context: { max: number; ttl: number; after: string }) =>
      appError('rate_limited', `Too many requests: at most ${context.max} a minute for each user. Try again in ${context.after}.`, {
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(context.ttl / 1000))) },
      }),
  };

  const openJobRoute = {
    preHandler: app.authenticate,
    config: { rateLimit: perUserRateLimit },
    schema: {
      tags: ['uploads'],
      summary: 'Open a new job for a set of selfies',
      security: BearerSecurity,
      response: { 200: JobResponse, ...errorResponses(401, 429) },
    },
  };
  const openJob = async (request: FastifyRequest) => {
    const job = await container.jobs.openJob(request.userId);
    return { jobId: job.id };
  };
  // The client contract spells the path "initalize"; the correct spelling is served too.
  app.get('/initalize-job', openJobRoute, openJob);
  app.get('/initialize-job', { ...openJobRoute, schema: { ...openJobRoute.schema, summary: 'Same as /initalize-job' } }, openJob);

  app.post(
    '/upload',
    {
      preHandler: app.authenticate,
      config: { rateLimit: perUserRateLimit },
      schema: {
        tags: ['uploads'],
        summary: 'Add one selfie to a job',
        description:
          'The photo is recognised from its bytes, normalised (upright, sRGB, no metadata, bounded size) and stored as JPEG; the original bytes are not kept.',
        security: BearerSecurity,
        consumes: ['multipart/form-data'],
        // Documents the form for OpenAPI only: @fastify/multipart reads the body in the handler.
        body: UploadBody,
        response: { 200: UploadResponse, ...errorResponses(400, 401, 404, 409, 413, 415, 429, 503), 422: UnprocessablePhotoResponse },
      },
      // The body is streamed in the handler; a schema validator would see no body.
      validatorCompiler: () => () => true,
    },
    async (request, reply) => {
      const userId = request.userId;
      try {
        const form = await readUploadForm(request, {
          maxFileBytes: uploads.maxFileBytes,
          temporaryDirectory: container.uploadTemporaryDirectory,
          onJobId: async (jobId) => {
            await container.photoUploads.getJobAcceptingPhotos(userId, jobId);
          },
        });
        try {
          return await container.photoUploads.addPhoto({ userId, jobId: form.jobId, file: form.file, log: request.log });
        } finally {
          await form.discard();
        }
      } catch (error) {
        // An error can come before the client has sent its whole body (a wrong job, an oversized file).
        // Closing the connection after the response spares reading the rest only to throw it away.
        if (!request.raw.complete) {
          reply.header('connection', 'close');
        }
        throw error;
      }
    },
  );
  app.delete(
    '/photo',
    {
      preHandler: app.authenticate,
      schema: {
        tags: ['uploads'],
        summary: 'Delete one photo of a job',
        description:
          'Removes the stored photo and its thumbnail, for example one the user does not want generated from. ' +
          'Not possible while a pack is being generated from the job (409 `job_busy`).',
        security: BearerSecurity,
        querystring: Type.Object({
          jobId: Type.String({ minLength: 1, maxLength: 100 }),
          photoId: Type.String({ minLength: 1, maxLength: 100 }),
        }),
        response: {
          200: Type.Object({
            jobId: Type.String(),
            photoId: Type.String(),
            deleted: Type.Literal(true),
            photoCount: Type.Integer({ description: 'Photos left in the job.' }),
          }),
          ...errorResponses(400, 401, 404, 409),
        },
      },
    },
    async (request) => {
      const { jobId, photoId } = request.query;
      const { photoCount } = await container.photoUploads.deletePhoto({ userId: request.userId, jobId, photoId, log: request.log });
      return { jobId, photoId, deleted: true as const, photoCount };
    },
  );
};
