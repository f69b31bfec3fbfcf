import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Container } from '../../container.js';
import { appError } from '../../domain/errors.js';
import { errorResponses } from '../schemas/common.js';

const HealthResponse = Type.Object({ status: Type.Literal('ok') });
const ReadinessResponse = Type.Object({
  status: Type.Literal('ok'),
  checks: Type.Record(Type.String(), Type.Literal('ok')),
});

export const healthRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (app, { container }) => {
  app.get(
    '/healthz',
    {
      schema: { tags: ['operations'], summary: 'The process is up', response: { 200: HealthResponse } },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'The process can serve requests: its dependencies answer',
        response: { 200: ReadinessResponse, ...errorResponses(503) },
      },
    },
    async (request) => {
      const failures: string[] = [];
      const checks: Record<string, 'ok'> = {};
      for (const [name, check] of Object.entries(container.readinessChecks)) {
        try {
          await check();
          checks[name] = 'ok';
        } catch (error) {
          request.log.warn({ err: error, dependency: name }, 'readiness check failed');
          failures.push(name);
        }
      }
      if (failures.length > 0) {
        throw appError('service_unavailable', `Not ready: ${failures.join(', ')} did not respond. Retry after the Retry-After delay.`, {
          details: failures.map((name) => ({ field: name, message: 'did not respond' })),
          headers: { 'Retry-After': '5' },
        });
      }
      return { status: 'ok' as const, checks };
    },
  );
};
