import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';

for (const kind of DATABASE_KINDS) {
  describe(`foundation on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;

    before(async () => {
      context = await createTestContext(kind);
    });
    after(async () => context?.close());

    it('answers /healthz and /readyz', async () => {
      const health = await context.app.inject({ method: 'GET', url: '/healthz' });
      const ready = await context.app.inject({ method: 'GET', url: '/readyz' });

      assert.equal(health.statusCode, 200);
      assert.deepEqual(health.json(), { status: 'ok' });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json(), { status: 'ok', checks: { database: 'ok', storage: 'ok' } });
    });

    it('renders unknown routes in the error format with the request id', async () => {
      const response = await context.app.inject({ method: 'GET', url: '/no-such-route' });
      const body = response.json();

      assert.equal(response.statusCode, 404);
      assert.equal(body.error.code, 'not_found');
      assert.equal(body.error.requestId, response.headers['x-request-id']);
    });

    it('keeps a plain request id sent by the client', async () => {
      const response = await context.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'abc-123' } });

      assert.equal(response.headers['x-request-id'], 'abc-123');
    });

    it('replaces a request id that could forge log lines', async () => {
      const response = await context.app.inject({
        method: 'GET',
        url: '/healthz',
        headers: { 'x-request-id': 'bad id\twith spaces' },
      });

      assert.notEqual(response.headers['x-request-id'], 'bad id\twith spaces');
      assert.match(String(response.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    });

    it('serves the OpenAPI document and the docs page', async () => {
      const document = await context.app.inject({ method: 'GET', url: '/openapi.json' });
      const page = await context.app.inject({ method: 'GET', url: '/docs/' });

      assert.equal(document.statusCode, 200);
      assert.equal(document.json().openapi, '3.1.0');
      assert.ok(document.json().paths['/healthz']);
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /swagger/i);
    });

    it('reports an unreachable database in /readyz', async () => {
      const original = context.container.readinessChecks.database;
      context.container.readinessChecks.database = async () => {
        throw new Error('connection refused');
      };
      try {
        const response = await context.app.inject({ method: 'GET', url: '/readyz' });

        assert.equal(response.statusCode, 503);
        assert.equal(response.json().error.code, 'service_unavailable');
        assert.equal(response.headers['retry-after'], '5');
      } finally {
        context.container.readinessChecks.database = original!;
      }
    });
  });
}
