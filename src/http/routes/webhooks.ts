import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Container } from '../../container.js';
import { InvalidPredictionError } from '../../adapters/engines/replicate/prediction.js';
import { WebhookSignatureError } from '../../adapters/engines/replicate/webhook-signature.js';
import { appError } from '../../domain/errors.js';
import { errorResponses } from '../schemas/common.js';

/**
 * Replicate's webhook bodies repeat the prediction's input, which holds the reference photos as data
 * URIs, so they are far larger than the API's usual JSON limit.
 */
const WEBHOOK_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

const WebhookHeaders = Type.Object({
  'webhook-id': Type.Optional(Type.String({ description: 'Unique per delivery; the same on retries.' })),
  'webhook-timestamp': Type.Optional(Type.String({ description: 'Seconds since the Unix epoch.' })),
  'webhook-signature': Type.Optional(Type.String({ description: 'Space-separated `v1,<base64 HMAC-SHA256>` entries.' })),
});

const WebhookResponse = Type.Object({
  status: Type.Union([Type.Literal('processed'), Type.Literal('duplicate'), Type.Literal('ignored')], {
    description: '`duplicate`: this webhook-id was processed before. `ignored`: the prediction is not one of ours.',
  }),
});

/**
 * POST /webhooks/replicate: prediction updates from Replicate, signed in the Standard Webhooks format.
 * Registered only when the Replicate engine is configured. The body is kept as raw bytes, because the
 * signature covers them exactly.
 */
export const webhookRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (app, { container }) => {
  const replicate = container.replicateWebhooks;
  if (replicate === undefined) {
    return;
  }

  // This plugin is encapsulated, so the raw parser applies to its route only.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT_BYTES }, (_request, body, done) => {
    done(null, body);
  });

  app.post(
    '/webhooks/replicate',
    {
      bodyLimit: WEBHOOK_BODY_LIMIT_BYTES,
      schema: {
        tags: ['webhooks'],
        summary: 'Replicate prediction updates (called by Replicate, not by the app)',
        headers: WebhookHeaders,
        response: { 200: WebhookResponse, ...errorResponses(400, 401, 413, 415) },
      },
    },
    async (request) => {
      const body = request.body as Buffer;
      try {
        const status = await replicate.receiveWebhook({
          id: request.headers['webhook-id'],
          timestamp: request.headers['webhook-timestamp'],
          signature: request.headers['webhook-signature'],
          body,
        });
        return { status };
      } catch (error) {
        if (error instanceof WebhookSignatureError) {
          request.log.warn({ webhookId: request.headers['webhook-id'], reason: error.message }, 'Replicate webhook rejected');
          throw appError('invalid_webhook_signature', `The webhook signature is invalid: ${error.message}.`);
        }
        if (error instanceof InvalidPredictionError) {
          throw appError('invalid_request', `The webhook body is not a Replicate prediction: ${error.message}.`);
        }
        throw error;
      }
    },
  );
};
