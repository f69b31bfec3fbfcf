import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, type ErrorDetail, ERROR_STATUS, isAppError } from '../../domain/errors.js';

interface RenderedError {
  statusCode: number;
  code: string;
  message: string;
  details?: ErrorDetail[];
  headers?: Record<string, string>;
}

/**
 * Fastify's own errors that a client can cause, mapped to catalog codes. Anything not listed and not an
 * AppError is a 500 whose message stays in the log.
 */
const FASTIFY_ERRORS: Record<string, { code: ErrorCode; message: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'unsupported_media_type',
    message: 'This Content-Type is not accepted here. Send application/json (or multipart/form-data for uploads).',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'invalid_request', message: 'The Content-Length header does not match the body.' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', message: 'The request body is too large.' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', message: 'The body is empty; send a JSON object.' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', message: 'The body is not valid JSON.' },
};

const sentErrorCodes = new WeakMap<FastifyRequest, string>();

/** The catalog code of the error sent in response to `request`, or undefined when none was sent. */
export function sentErrorCode(request: FastifyRequest): string | undefined {
  return sentErrorCodes.get(request);
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const rendered = renderError(error);
    if (rendered.statusCode >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else if (rendered.statusCode !== 404 && rendered.statusCode !== 401) {
      request.log.info({ code: rendered.code, message: rendered.message }, 'request rejected');
    }
    return sendError(request, reply, rendered);
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, {
      statusCode: 404,
      code: 'not_found',
      message: `No route matches ${request.method} ${request.url.split('?')[0]}. See /docs for the API.`,
    }),
  );
}

function renderError(error: FastifyError): RenderedError {
  if (isAppError(error)) {
    return {
      statusCode: error.statusCode,
      code: error.code,
      message: error.message,
      details: error.details,
      headers: error.headers,
    };
  }

  if (error.validation !== undefined) {
    const details = error.validation.map((issue) => ({
      field: fieldName(error.validationContext, issue.instancePath, issue.params),
      message: issue.message ?? 'is invalid',
    }));
    const summary = details.map((detail) => `${detail.field} ${detail.message}`).join('; ');
    return { statusCode: 400, code: 'invalid_request', message: `Invalid request: ${summary}.`, details };
  }

  const known = error.code === undefined ? undefined : FASTIFY_ERRORS[error.code];
  if (known !== undefined) {
    return { statusCode: ERROR_STATUS[known.code], code: known.code, message: known.message };
  }

  // secure-json-parse rejects `__proto__` and `constructor.prototype` keys with a plain SyntaxError.
  if (error instanceof SyntaxError || (error.statusCode === 400 && error.code === undefined)) {
    return { statusCode: 400, code: 'invalid_json', message: `The body is not acceptable JSON: ${error.message}` };
  }

  const statusCode = error.statusCode ?? 500;
  if (statusCode >= 400 && statusCode < 500) {
    return { statusCode, code: statusCode === 429 ? 'rate_limited' : 'invalid_request', message: error.message };
  }
  return {
    statusCode: 500,
    code: 'internal_error',
    message: 'The server failed to handle this request. Try again; if it keeps failing, report the request id.',
  };
}

/** How error messages name a value of each request part that Fastify validates. */
const FIELD_KINDS: Record<string, string> = { querystring: 'query parameter', headers: 'header' };

/** Names the field as a client sees it: `payment_token.transaction_id`, not `/payment_token/transaction_id`. */
function fieldName(context: string | undefined, instancePath: string, params: Record<string, unknown>): string {
  const segments = instancePath.split('/').filter((segment) => segment !== '');
  if (typeof params.missingProperty === 'string') {
    segments.push(params.missingProperty);
  }
  if (typeof params.additionalProperty === 'string') {
    segments.push(params.additionalProperty);
  }
  if (segments.length === 0) {
    return context ?? 'request';
  }
  const kind = FIELD_KINDS[context ?? ''] ?? 'field';
  return `${kind} ${segments.join('.')}`;
}

function sendError(request: FastifyRequest, reply: FastifyReply, rendered: RenderedError) {
  sentErrorCodes.set(request, rendered.code);
  if (rendered.headers !== undefined) {
    reply.headers(rendered.headers);
  }
  return reply.status(rendered.statusCode).send({
    error: {
      code: rendered.code,
      message: rendered.message,
      requestId: request.id,
      ...(rendered.details === undefined ? {} : { details: rendered.details }),
    },
  });
}
