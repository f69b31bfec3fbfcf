import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../adapters/metrics/metrics.js';
import { sentErrorCode } from './error-handler.js';

/** Route of photo uploads, whose 4xx responses count as rejected uploads. */
const UPLOAD_ROUTE = '/upload';
/** Label for requests that matched no route, so unknown paths cannot add label values without bound. */
const UNMATCHED_ROUTE = 'unmatched';

/**
 * Records every request's duration by method, route template and status, and counts rejected uploads by
 * the error code sent back, so upload code needs no metrics calls of its own.
 */
export function registerRequestMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    const statusCode = reply.statusCode;
    metrics.observeRequest(request.method, route, statusCode, reply.elapsedTime / 1000);

    if (route === UPLOAD_ROUTE && statusCode >= 400 && statusCode < 500) {
      metrics.countUploadRejected(sentErrorCode(request) ?? `http_${statusCode}`);
    }
  });
}
