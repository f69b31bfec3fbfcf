import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Container } from '../../container.js';
import { appError } from '../../domain/errors.js';
import { bearerTokenMatches } from '../bearer-token.js';
import { errorResponses } from '../schemas/common.js';

const MetricsText = Type.String({ description: 'Metrics in the Prometheus text exposition format 0.0.4.' });

export const metricsRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (app, { container }) => {
  const token = container.config.operations.metricsToken;

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics: requests, queue, tasks and rejected uploads',
        description: 'With METRICS_TOKEN set, send it as "Authorization: Bearer <token>".',
        response: { 200: MetricsText, ...errorResponses(401, 503) },
      },
    },
    async (request, reply) => {
      if (token !== undefined && !bearerTokenMatches(request.headers.authorization, token)) {
        throw appError('invalid_token', 'This endpoint needs "Authorization: Bearer <METRICS_TOKEN>".', {
          headers: { 'WWW-Authenticate': 'Bearer realm="metrics"' },
        });
      }
      const { contentType, body } = await container.metrics.render();
      return reply.type(contentType).send(body);
    },
  );
};
