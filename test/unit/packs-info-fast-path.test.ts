import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { PacksRepository } from '../../src/adapters/database/repositories/packs-repository.js';
import { PublicCatalogCache } from '../../src/domain/packs/public-catalog-cache.js';
import { PacksInfoFastPath } from '../../src/http/packs-info-fast-path.js';

const FALLBACK_BODY = 'left to Fastify';

/** Starts a loopback server that serves through the fast path and marks every request it steps aside from. */
async function startServer(fastPath: PacksInfoFastPath): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer((request, response) => {
    if (!fastPath.handle(request, response)) {
      request.resume();
      response.writeHead(299, { 'content-type': 'text/plain' }).end(FALLBACK_BODY);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function catalogWith(packName: string): PublicCatalogCache {
  const repository = {
    readCatalogVersion: async () => 1,
    listPublicPackFields: async () => [
      {
        name: packName,
        displayName: 'Pack',
        isActive: true,
        featured: false,
        featuredThumbnail: null,
        thumbnail: 'https://example.com/t.png',
        secondaryThumbnailImages: [],
        displayOrder: 10,
      },
    ],
  } as unknown as PacksRepository;
  return new PublicCatalogCache(repository, 1000);
}

describe('PacksInfoFastPath', () => {
  const catalog = catalogWith('neon');
  const fastPath = new PacksInfoFastPath(catalog);
  let url: string;
  let server: http.Server;

  before(async () => {
    ({ url, server } = await startServer(fastPath));
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('steps aside while no catalog is loaded', async () => {
    const response = await fetch(`${url}/packs-info`);

    assert.equal(response.status, 299);
    assert.equal(await response.text(), FALLBACK_BODY);
  });

  it('answers GET from the loaded catalog', async () => {
    const current = await catalog.get();
    const response = await fetch(`${url}/packs-info`);

    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), current.body);
    assert.equal(response.headers.get('etag'), current.etag);
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(response.headers.get('content-length'), current.contentLength);
    assert.equal(response.headers.get('cache-control'), 'no-cache');
    assert.match(response.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  it('answers a query string, HEAD and If-None-Match', async () => {
    const current = await catalog.get();

    const withQuery = await fetch(`${url}/packs-info?locale=en`);
    const head = await fetch(`${url}/packs-info`, { method: 'HEAD' });
    const revalidation = await fetch(`${url}/packs-info`, { headers: { 'if-none-match': current.etag } });

    assert.equal(withQuery.status, 200);
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    assert.equal(head.headers.get('content-length'), current.contentLength);
    assert.equal(revalidation.status, 304);
    assert.equal(revalidation.headers.get('etag'), current.etag);
  });

  it('keeps a plain client request id', async () => {
    await catalog.get();
    const response = await fetch(`${url}/packs-info`, { headers: { 'x-request-id': 'app-launch-42' } });

    assert.equal(response.headers.get('x-request-id'), 'app-launch-42');
  });

  it('steps aside for other methods, paths and bodies', async () => {
    await catalog.get();
    const requests: Array<[string, RequestInit]> = [
      ['/packs-info', { method: 'POST', body: '{}' }],
      ['/packs-info', { method: 'DELETE' }],
      ['/packs-info/', {}],
      ['/packs-infos', {}],
      ['/PACKS-INFO', {}],
      ['/healthz', {}],
    ];
    for (const [path, init] of requests) {
      const response = await fetch(`${url}${path}`, init);
      assert.equal(response.status, 299, `${init.method ?? 'GET'} ${path}`);
      await response.text();
    }
  });

  it('steps aside for a GET with a body', async () => {
    await catalog.get();
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const request = http.request(`${url}/packs-info`, { method: 'GET', headers: { 'content-length': '2' } }, (response) => {
        response.resume();
        resolve(response.statusCode);
      });
      request.on('error', reject);
      request.end('{}');
    });

    assert.equal(status, 299);
  });

  it('steps aside once the app starts closing', async () => {
    await catalog.get();
    const hooks: Record<string, () => Promise<void>> = {};
    const app = { addHook: (name: string, hook: () => Promise<void>) => (hooks[name] = hook), log: { info: () => undefined } };
    fastPath.attach(app as unknown as Parameters<PacksInfoFastPath['attach']>[0]);

    await hooks.preClose!();
    const response = await fetch(`${url}/packs-info`);

    assert.equal(response.status, 299);
    await response.text();
  });
});
