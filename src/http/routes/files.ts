import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { StorageNotFoundError, isValidStorageKey } from '../../adapters/storage/object-storage.js';
import { appError } from '../../domain/errors.js';
import { errorResponses } from '../schemas/common.js';

const FileQuery = Type.Object({
  expires: Type.Optional(Type.String({ description: 'Expiry of the link in seconds since the Unix epoch.' })),
  signature: Type.Optional(Type.String({ description: 'Signature of the key and expiry.' })),
});

/**
 * Serves stored objects to holders of a signed link from `ObjectStorage.signedUrl`. Nothing is served
 * without a valid, unexpired signature for exactly the requested key, and directories are never listed.
 */
export const fileRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (app, { container }) => {
  app.get(
    '/files/*',
    {
      schema: {
        tags: ['files'],
        summary: 'Download a stored photo through a signed link',
        description: 'Links come from API responses (such as thumbnailUrl from /upload) and expire.',
        querystring: FileQuery,
        response: {
          // Documents the binary body; Fastify sends streams without serialising them.
          200: Type.Unsafe<Readable>({ type: 'string', format: 'binary', description: 'The stored bytes.' }),
          ...errorResponses(403, 404),
        },
      },
    },
    async (request, reply) => {
      const key = (request.params as { '*': string })['*'];
      const check = isValidStorageKey(key) ? container.fileLinks.check(key, request.query.expires, request.query.signature) : 'invalid';
      if (check === 'expired') {
        throw appError('invalid_file_link', 'This link has expired. Ask the API for a new one.');
      }
      if (check === 'invalid') {
        throw appError('invalid_file_link', 'This link is not valid: it needs the expires and signature parameters it was issued with.');
      }

      let object;
      try {
        object = await container.storage.get(key);
      } catch (error) {
        if (error instanceof StorageNotFoundError) {
          throw appError('not_found', 'The file of this link no longer exists.');
        }
        throw error;
      }
      const secondsLeft = container.fileLinks.secondsLeft(request.query.expires!);
      return reply
        .header('content-type', object.contentType)
        .header('content-length', object.bytes)
        .header('cache-control', `private, max-age=${secondsLeft}`)
        .header('x-content-type-options', 'nosniff')
        .send(object.body);
    },
  );
};
