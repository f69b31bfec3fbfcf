import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { openSocket, readResponse, requestHead } from '../helpers/raw-http.js';

const START = 1_750_000_000_000;

function pathAndQuery(url: string): string {
  const parsed = new URL(url);
  return parsed.pathname + parsed.search;
}

for (const kind of DATABASE_KINDS) {
  describe(`signed file links on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let now = START;

    before(async () => {
      context = await createTestContext(kind, {
        env: { PUBLIC_BASE_URL: 'https://envision.example.test' },
        overrides: () => ({ clock: { now: () => now } }),
      });
      await context.container.storage.put('jobs/j1/photos/p1.jpg', Buffer.from('stored jpeg'), 'image/jpeg');
      await context.container.storage.put('jobs/j1/photos/p2.jpg', Buffer.from('another jpeg'), 'image/jpeg');
    });
    after(async () => context?.close());

    it('serves an object through its link', async () => {
      const link = await context.container.storage.signedUrl('jobs/j1/photos/p1.jpg', 600);

      const response = await context.app.inject({ method: 'GET', url: pathAndQuery(link) });

      assert.ok(link.startsWith('https://envision.example.test/files/jobs/j1/photos/p1.jpg?'), link);
      assert.equal(response.statusCode, 200);
      assert.equal(response.body, 'stored jpeg');
      assert.equal(response.headers['content-type'], 'image/jpeg');
      assert.equal(response.headers['content-length'], '11');
      assert.equal(response.headers['cache-control'], 'private, max-age=600');
      assert.equal(response.headers['x-content-type-options'], 'nosniff');
    });

    it('rejects an expired link', async () => {
      const link = await context.container.storage.signedUrl('jobs/j1/photos/p1.jpg', 600);
      now += 600_000;
      try {
        const response = await context.app.inject({ method: 'GET', url: pathAndQuery(link) });

        assert.equal(response.statusCode, 403);
        assert.equal(response.json().error.code, 'invalid_file_link');
        assert.match(response.json().error.message, /expired/);
      } finally {
        now = START;
      }
    });

    it('rejects tampered links', async () => {
      const link = new URL(await context.container.storage.signedUrl('jobs/j1/photos/p1.jpg', 600));
      const expires = link.searchParams.get('expires')!;
      const signature = link.searchParams.get('signature')!;
      const tampered = [
        `/files/jobs/j1/photos/p2.jpg?expires=${expires}&signature=${signature}`,
        `/files/jobs/j1/photos/p1.jpg?expires=${Number(expires) + 3600}&signature=${signature}`,
        `/files/jobs/j1/photos/p1.jpg?expires=${expires}&signature=${signature.slice(1)}x`,
        `/files/jobs/j1/photos/p1.jpg?expires=${expires}`,
        '/files/jobs/j1/photos/p1.jpg',
      ];

      for (const url of tampered) {
        const response = await context.app.inject({ method: 'GET', url });
        assert.equal(response.statusCode, 403, url);
        assert.equal(response.json().error.code, 'invalid_file_link', url);
      }
    });

    it('serves nothing for path tricks', async () => {
      const signed = new URL(await context.container.storage.signedUrl('jobs/j1/photos/p1.jpg', 600));
      const query = signed.search;
      const urls = [
        `/files/..%2F..%2Fenvision.sqlite${query}`,
        `/files/.tmp/x.part${query}`,
        `/files/${query}`,
      ];

      for (const url of urls) {
        const response = await context.app.inject({ method: 'GET', url });
        assert.ok([403, 404].includes(response.statusCode), `${url} answered ${response.statusCode}`);
        assert.notEqual(response.body, 'stored jpeg', url);
      }
    });

    it('serves nothing for dot segments sent as they are', async () => {
      // app.inject resolves `..` and `%2e%2e` as a browser would, so these requests go over a real socket.
      const signed = new URL(await context.container.storage.signedUrl('jobs/j1/photos/p1.jpg', 600));
      await context.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (context.app.server.address() as AddressInfo).port;

      for (const path of ['/files/jobs/j1/photos/../photos/p1.jpg', '/files/jobs/j1/photos/%2e%2e/photos/p1.jpg', '/files/jobs/j1/../../envision.sqlite']) {
        const socket = await openSocket(port);
        try {
          const response = readResponse(socket);
          socket.write(requestHead('GET', `${path}${signed.search}`, { connection: 'close' }));

          const answer = await response;
          assert.equal(answer.statusCode, 403, path);
          assert.notEqual(answer.body, 'stored jpeg', path);
        } finally {
          socket.destroy();
        }
      }
    });

    it('lists no directory, even with a valid link for it', async () => {
      const link = await context.container.fileLinks.url('jobs/j1/photos', 600);

      const response = await context.app.inject({ method: 'GET', url: pathAndQuery(link) });

      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error.code, 'not_found');
      assert.doesNotMatch(response.body, /p1\.jpg/);
    });

    it('answers 404 once the object is deleted', async () => {
      await context.container.storage.put('jobs/j1/photos/gone.jpg', Buffer.from('x'), 'image/jpeg');
      const link = await context.container.storage.signedUrl('jobs/j1/photos/gone.jpg', 600);
      await context.container.storage.delete(['jobs/j1/photos/gone.jpg']);

      const response = await context.app.inject({ method: 'GET', url: pathAndQuery(link) });

      assert.equal(response.statusCode, 404);
    });
  });
}
