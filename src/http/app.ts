import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Container } from '../container.js';
import { PacksInfoFastPath } from './packs-info-fast-path.js';
import { registerAuthentication } from './plugins/authentication.js';
import { registerErrorHandling } from './plugins/error-handler.js';
import { registerOpenApi } from './plugins/openapi.js';
import { registerRequestLogging, requestLoggingOptions } from './plugins/request-logging.js';
import { registerRequestMetrics } from './plugins/request-metrics.js';
import { registerValidation } from './plugins/validation.js';
import { registerRoutes } from './routes/index.js';

/** Limit for JSON bodies. Photos go through multipart, which has its own limits. */
const JSON_BODY_LIMIT_BYTES = 64 * 1024;

const packageVersion = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface BuildAppOptions {
  /** Overrides the configured log level, e.g. 'silent' in tests. */
  logLevel?: string;
}

/**
 * Builds the HTTP application: infrastructure plugins first (logging, validation, errors, auth, OpenAPI),
 * then the routes. The caller owns `container` and closes it after the app.
 */
export async function buildApp(container: Container, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const packsInfoFastPath = new PacksInfoFastPath(container.packs.publicCatalog, (method, statusCode, seconds) =>
    container.metrics.observeRequest(method, '/packs-info', statusCode, seconds),
  );
  const app = Fastify({
    serverFactory: packsInfoFastPath.serverFactory(),
    ...requestLoggingOptions(options.logLevel ?? container.config.logLevel),
    bodyLimit: JSON_BODY_LIMIT_BYTES,
    // The whole request must arrive within this time, so a stalled client cannot hold a socket forever.
    requestTimeout: 120_000,
    connectionTimeout: 0,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  packsInfoFastPath.attach(app);

  registerRequestLogging(app);
  registerRequestMetrics(app, container.metrics);
  registerValidation(app);
  registerErrorHandling(app);
  registerAuthentication(app, container.tokens);
  await registerOpenApi(app, packageVersion);
  await registerRoutes(app, container);

  return app;
}

export { packageVersion };
