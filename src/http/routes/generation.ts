import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { GenerationService } from '../../domain/generation/generation-service.js';
import { BearerSecurity, errorResponses } from '../schemas/common.js';

const JobId = Type.String({ minLength: 1, maxLength: 128, description: 'The jobId from /initalize-job.' });
const RunStatus = Type.Union([
  Type.Literal('queued'),
  Type.Literal('processing'),
  Type.Literal('completed'),
  Type.Literal('partial'),
  Type.Literal('failed'),
]);
const JobStatus = Type.Union([Type.Literal('not_started'), ...RunStatus.anyOf], {
  description: 'The runs combined: processing (or queued) while any run is open, then completed, failed or partial.',
});
const Progress = Type.Object({
  done: Type.Integer({ description: 'Images finished so far.' }),
  total: Type.Integer({ description: 'Images the started packs make in all: prompts × images per prompt.' }),
});
const RunSummary = Type.Object({
  pack_name: Type.String(),
  status: RunStatus,
  progress: Progress,
  reason: Type.Union([Type.String(), Type.Null()], { description: 'Why images are missing, for people; null unless partial or failed.' }),
  created_at: Type.String({ format: 'date-time' }),
  finished_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
const Image = Type.Object({
  pack_name: Type.String(),
  prompt_index: Type.Integer({ description: 'Which prompt of the pack made the image, from 0.' }),
  image_index: Type.Integer({ description: 'Which image of that prompt, from 0.' }),
  url: Type.String({ description: 'Signed link that works until urls_expire_at.' }),
  content_type: Type.String(),
  width: Type.Integer(),
  height: Type.Integer(),
});
const JobStatusResponse = Type.Object({
  jobId: Type.String(),
  status: JobStatus,
  progress: Progress,
  reason: Type.Union([Type.String(), Type.Null()]),
  runs: Type.Array(RunSummary, { description: 'One entry per pack started on the job, oldest first.' }),
  images: Type.Array(Image, { description: 'Every image finished so far, by run, prompt and image.' }),
  urls_expire_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
const JobQuery = Type.Object({ jobId: JobId });

export const generationRoutes: FastifyPluginAsyncTypebox<{ generation: GenerationService }> = async (app, { generation }) => {
  app.post(
    '/start-job',
    {
      preHandler: app.authenticate,
      schema: {
        tags: ['generation'],
        summary: 'Start a pack on a job',
        description:
          'Renders the pack from the job\'s photos in the background. Starting a pack the job already has returns that run; ' +
          'another pack on the same job reuses its photos. Poll /job-status for progress.',
        security: BearerSecurity,
        body: Type.Object({ jobId: JobId, pack_name: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: { 202: JobStatusResponse, ...errorResponses(400, 401, 403, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const status = await generation.startJob(request.userId, request.body.jobId, request.body.pack_name);
      return reply.status(202).send(status);
    },
  );

  app.get(
    '/job-status',
    {
      preHandler: app.authenticate,
      schema: {
        tags: ['generation'],
        summary: "A job's status, progress and images so far",
        security: BearerSecurity,
        querystring: JobQuery,
        response: { 200: JobStatusResponse, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => generation.jobStatus(request.userId, request.query.jobId),
  );

  app.get(
    '/jobs',
    {
      preHandler: app.authenticate,
      schema: {
        tags: ['generation'],
        summary: "The caller's jobs, newest first",
        security: BearerSecurity,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Jobs per page.' }),
          cursor: Type.Optional(Type.String({ maxLength: 512, description: 'next_cursor of the previous page.' })),
        }),
        response: {
          200: Type.Object({
            jobs: Type.Array(
              Type.Object({
                jobId: Type.String(),
                created_at: Type.String({ format: 'date-time' }),
                photo_count: Type.Integer(),
                status: JobStatus,
                runs: Type.Array(RunSummary),
              }),
            ),
            next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page; null on the last.' }),
          }),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => generation.listJobs(request.userId, request.query.limit, request.query.cursor),
  );

  app.get(
    '/job-archive',
    {
      preHandler: app.authenticate,
      schema: {
        tags: ['generation'],
        summary: "All of a job's images so far as one zip",
        description: 'Entries are named <pack_name>/<pack_name>-<prompt>-<image>.<ext>, counting from 1.',
        security: BearerSecurity,
        querystring: JobQuery,
        response: {
          200: Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'application/zip' }),
          ...errorResponses(400, 401, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const archive = await generation.createJobArchive(request.userId, request.query.jobId);
      archive.stream.on('error', (error) => request.log.error({ err: error, jobId: request.query.jobId }, 'writing the job archive failed'));
      reply.header('content-type', 'application/zip');
      reply.header('content-disposition', `attachment; filename="${archive.fileName}"`);
      if (archive.bytes >= 0) {
        reply.header('content-length', archive.bytes);
      }
      return reply.send(archive.stream);
    },
  );

  app.delete(
    '/job',
    {
      preHandler: app.authenticate,
      schema: {
        tags: ['generation'],
        summary: 'Delete a job with its photos and images',
        description: 'Running generation of the job is cancelled. Cannot be undone.',
        security: BearerSecurity,
        querystring: JobQuery,
        response: { 200: Type.Object({ jobId: Type.String(), deleted: Type.Literal(true) }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      await generation.deleteJob(request.userId, request.query.jobId);
      return { jobId: request.query.jobId, deleted: true as const };
    },
  );
};
