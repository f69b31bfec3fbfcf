import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Container } from '../../container.js';
import { ifNoneMatchMatches } from '../../domain/packs/public-catalog.js';

const Thumbnail = Type.Union([Type.String(), Type.Array(Type.String())], {
  description: 'A URL, or a list of URLs, exactly as stored for the pack.',
});
const ThumbnailImages = Type.Array(Type.String(), { description: "The pack's secondary-thumbnail-images." });

const FeaturedPack = Type.Object({
  display_name: Type.String(),
  featured_thumbnail: Type.String(),
  pack_name: Type.String(),
  thumbnail: Thumbnail,
  thumbnail_images: ThumbnailImages,
});
const ListedPack = Type.Object({
  display_name: Type.String(),
  pack_name: Type.String(),
  thumbnail: Thumbnail,
  thumbnail_images: ThumbnailImages,
});
const PacksInfoResponse = Type.Object(
  {
    featuredPacks: Type.Array(FeaturedPack, { description: 'Active featured packs, also listed in packs.' }),
    packs: Type.Array(ListedPack, { description: 'Every active pack, in display order.' }),
  },
  { description: 'The pack catalog. Sent with a strong ETag; Cache-Control: no-cache asks clients to revalidate.' },
);

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export const packsRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (app, { container }) => {
  const catalog = container.packs.publicCatalog;
  app.addHook('onReady', async () => {
    catalog.startWatching(app.log);
    // Loading before the first request lets the fast path serve it. A failure here is not fatal: the
    // route loads the catalog again on the first request and reports an error there if it still fails.
    await catalog.get().catch((error: unknown) => app.log.warn({ err: error }, 'could not load the pack catalog at start-up'));
  });
  app.addHook('onClose', async () => catalog.stopWatching());

  app.get(
    '/packs-info',
    {
      schema: {
        tags: ['packs'],
        summary: 'List the active style packs and the featured ones; public, no token needed',
        headers: Type.Object({ 'if-none-match': Type.Optional(Type.String()) }),
        response: {
          200: PacksInfoResponse,
          304: Type.Unknown({ description: 'Not modified: the ETag in If-None-Match is still current. No body.' }),
        },
      },
    },
    async (request, reply) => {
      // The body is serialized once per catalog version; a request only compares ETags and sends bytes.
      const current = catalog.current ?? (await catalog.get());
      reply.header('etag', current.etag).header('cache-control', 'no-cache');
      if (ifNoneMatchMatches(request.headers['if-none-match'], current.etag)) {
        return reply.code(304).send();
      }
      // The bytes are PacksInfoResponse already serialized; Fastify sends a Buffer as is, unvalidated.
      return reply.header('content-type', JSON_CONTENT_TYPE).send(current.body as never);
    },
  );
};
