import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyServerFactory } from 'fastify';
import type { PublicCatalogCache } from '../domain/packs/public-catalog-cache.js';
import { ifNoneMatchMatches } from '../domain/packs/public-catalog.js';
import { chooseRequestId } from './plugins/request-logging.js';

const PACKS_INFO_PATH = '/packs-info';
const SUMMARY_INTERVAL_MS = 60_000;

/**
 * Serves `GET` and `HEAD /packs-info` from the cached catalog before Fastify sees the request. The app
 * fetches the catalog on every launch, and through Fastify's routing, hooks and per-request log line this
 * response took about 2.4 times the CPU time of node:http alone (measured, see docs/packs.md).
 *
 * The Fastify route in `routes/packs.ts` stays the reference. It serves the same bytes and headers
 * whenever this path steps aside (no catalog loaded yet, the server closing, a request with a body), and
 * it documents the endpoint in OpenAPI.
 *
 * Requests served here skip every Fastify hook. They still get an `x-request-id` header, and instead
 * of one log line each they are counted in one summary line per minute.
 */
export class PacksInfoFastPath {
  private closing = false;
  private servedRequests = 0;
  private notModifiedResponses = 0;
  private summaryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly catalog: PublicCatalogCache,
    /** Called for every request served here, with the time to write the response, for /metrics. */
    private readonly onServed?: (method: string, statusCode: number, seconds: number) => void,
  ) {}

  /** Returns true when it sent the response, false to leave the request to Fastify. */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    const current = this.catalog.current;
    if (current === undefined || this.closing) {
      return false;
    }
    const method = request.method;
    if (method !== 'GET' && method !== 'HEAD') {
      return false;
    }
    const url = request.url;
    if (url !== PACKS_INFO_PATH && !url?.startsWith(`${PACKS_INFO_PATH}?`)) {
      return false;
    }
    const headers = request.headers;
    if ((headers['content-length'] !== undefined && headers['content-length'] !== '0') || headers['transfer-encoding'] !== undefined) {
      return false;
    }

    const requestId = chooseRequestId(headers['x-request-id']);
    this.servedRequests += 1;
    if (ifNoneMatchMatches(headers['if-none-match'], current.etag)) {
      this.notModifiedResponses += 1;
      response.writeHead(304, ['x-request-id', requestId, 'etag', current.etag, 'cache-control', 'no-cache']);
      response.end();
      return true;
    }
    response.writeHead(200, [
      'x-request-id',
      requestId,
      'etag',
      current.etag,
      'cache-control',
      'no-cache',
      'content-type',
      'application/json; charset=utf-8',
      'content-length',
      current.contentLength,
    ]);
    // Node.js sends no body for HEAD even when given one; passing none avoids the work.
    response.end(method === 'HEAD' ? undefined : current.body);
    return true;
  }

  /**
   * Returns a Fastify `serverFactory` that puts this path in front of Fastify's handler, with the timeouts
   * Fastify applies to the servers it creates itself (fastify 5 `lib/server.js`).
   */
  serverFactory(): FastifyServerFactory {
    return (fastifyHandler, options) => {
      const server = http.createServer((options.http ?? {}) as http.ServerOptions, (request, response) => {
        const started = performance.now();
        if (this.handle(request, response)) {
          this.onServed?.(request.method ?? 'GET', response.statusCode, (performance.now() - started) / 1000);
        } else {
          fastifyHandler(request, response);
        }
      });
      if (typeof options.keepAliveTimeout === 'number') {
        server.keepAliveTimeout = options.keepAliveTimeout;
      }
      if (typeof options.requestTimeout === 'number') {
        server.requestTimeout = options.requestTimeout;
      }
      if (typeof options.connectionTimeout === 'number') {
        server.setTimeout(options.connectionTimeout);
      }
      if (typeof options.maxRequestsPerSocket === 'number' && options.maxRequestsPerSocket > 0) {
        server.maxRequestsPerSocket = options.maxRequestsPerSocket;
      }
      return server;
    };
  }

  /** Leaves requests to Fastify once the app is closing (Fastify responds 503) and logs the per-minute counts. */
  attach(app: FastifyInstance): void {
    app.addHook('preClose', async () => {
      this.closing = true;
    });
    app.addHook('onReady', async () => {
      this.summaryTimer = setInterval(() => this.logSummary(app), SUMMARY_INTERVAL_MS);
      this.summaryTimer.unref();
    });
    app.addHook('onClose', async () => {
      clearInterval(this.summaryTimer);
      this.logSummary(app);
    });
  }

  private logSummary(app: FastifyInstance): void {
    if (this.servedRequests === 0) {
      return;
    }
    app.log.info(
      { route: PACKS_INFO_PATH, requests: this.servedRequests, notModified: this.notModifiedResponses },
      'served /packs-info requests from memory',
    );
    this.servedRequests = 0;
    this.notModifiedResponses = 0;
  }
}
