import { randomUUID } from 'node:crypto';
import { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';

const REQUEST_ID_HEADER = 'x-request-id';
// A client's own request id is kept only when it is short and plain, so it cannot forge log lines.
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Returns the client's `x-request-id` when it is short and plain, else a new UUID. */
export function chooseRequestId(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && ACCEPTABLE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** Server options for request ids and the logger. Pass them to `Fastify()`. */
export function requestLoggingOptions(level: string): Pick<
  FastifyServerOptions,
  'genReqId' | 'requestIdHeader' | 'logController' | 'logger'
> {
  return {
    requestIdHeader: false,
    genReqId: (request) => chooseRequestId(request.headers[REQUEST_ID_HEADER]),
    // Fastify logs two lines per request by default; the hook below writes one line with the outcome.
    logController: new LogController({ disableRequestLogging: true }),
    logger: {
      level,
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', '*.jwt_token', '*.fcm_token', '*.payment_token'],
        censor: '[redacted]',
      },
    },
  };
}

/** Echoes the request id in a response header and logs one line per request with status and duration. */
export function registerRequestLogging(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });

  app.addHook('onResponse', async (request, reply) => {
    const statusCode = reply.statusCode;
    const line = {
      method: request.method,
      // The query string is left out: signed file links carry their signature there.
      url: request.url.split('?')[0],
      route: request.routeOptions.url,
      statusCode,
      durationMs: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (statusCode >= 500) {
      request.log.error(line, 'request completed');
    } else {
      request.log.info(line, 'request completed');
    }
  });
}
