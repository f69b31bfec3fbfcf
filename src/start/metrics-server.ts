import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { Logger } from 'pino';
import type { Metrics } from '../adapters/metrics/metrics.js';
import { bearerTokenMatches } from '../http/bearer-token.js';

export interface MetricsServer {
  /** The address it listens on, such as `http://127.0.0.1:9464`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` on its own port, for `envision worker` processes, which serve no API. With a
 * token, requests need `Authorization: Bearer <token>`, as on the API.
 */
export async function startMetricsServer(
  metrics: Metrics,
  options: { host: string; port: number; token: string | undefined; logger: Logger },
): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Only GET /metrics is served here.\n');
      return;
    }
    if (options.token !== undefined && !bearerTokenMatches(request.headers.authorization, options.token)) {
      response.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="metrics"' }).end('Send "Authorization: Bearer <METRICS_TOKEN>".\n');
      return;
    }
    metrics.render().then(
      ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body),
      (error: unknown) => {
        options.logger.error({ err: error }, 'rendering metrics failed');
        response.writeHead(500, { 'content-type': 'text/plain' }).end('Rendering the metrics failed; see the log.\n');
      },
    );
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const url = `http://${options.host}:${port}`;
  options.logger.info({ url: `${url}/metrics` }, 'worker metrics listening');

  return {
    url,
    close: async () => {
      server.close();
      server.closeAllConnections();
      await once(server, 'close');
    },
  };
}
