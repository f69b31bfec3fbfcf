import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/**
 * Builds the OpenAPI document from the route schemas and serves it at `/openapi.json`, with Swagger UI
 * at `/docs`. The UI's files come from the installed package, so it works offline.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Envision backend API',
        version,
        description:
          'Server for the Envision iOS app. Errors always have the body `{ "error": { "code", "message", "requestId" } }`.',
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The jwt_token from /verify-payment.' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
