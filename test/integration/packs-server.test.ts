import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { exportCatalog, packNames, withPackFields } from '../helpers/packs.js';

// /packs-info through a listening server, where cache hits take the fast path in front of Fastify.
for (const kind of DATABASE_KINDS) {
  describe(`packs over a socket on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let url: string;

    before(async () => {
      context = await createTestContext(kind);
      url = await context.app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(async () => context?.close());

    it('sends the same bytes and headers as the Fastify route', async () => {
      const routed = await context.app.inject({ method: 'GET', url: '/packs-info' });
      const response = await fetch(`${url}/packs-info`);

      assert.equal(response.status, 200);
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), routed.rawPayload);
      for (const header of ['etag', 'content-type', 'content-length', 'cache-control']) {
        assert.equal(response.headers.get(header), routed.headers[header], header);
      }
      assert.ok(response.headers.get('x-request-id'));
    });

    it('answers 304 to the current ETag', async () => {
      const etag = (await fetch(`${url}/packs-info`)).headers.get('etag')!;
      const revalidation = await fetch(`${url}/packs-info`, { headers: { 'if-none-match': etag } });

      assert.equal(revalidation.status, 304);
      assert.equal(revalidation.headers.get('etag'), etag);
    });

    it('serves a catalog change at once', async () => {
      const seed = await exportCatalog(context);
      await context.container.packs.importCatalog(withPackFields(seed, 'modern', { is_active: false }), { replace: false });
      try {
        const body = (await (await fetch(`${url}/packs-info`)).json()) as { packs: Array<Record<string, unknown>> };

        assert.ok(!packNames(body.packs).includes('modern'));
        assert.equal(body.packs.length, 11);
      } finally {
        await context.container.packs.importCatalog(seed, { replace: true });
      }
    });

    it('leaves other methods to Fastify', async () => {
      const response = await fetch(`${url}/packs-info`, { method: 'DELETE' });
      const body = (await response.json()) as { error: { code: string; requestId: string } };

      assert.equal(response.status, 404);
      assert.equal(body.error.code, 'not_found');
      assert.equal(body.error.requestId, response.headers.get('x-request-id'));
    });
  });
}
