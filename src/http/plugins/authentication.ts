import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TokenService } from '../../domain/auth/token-service.js';
import { appError } from '../../domain/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's user id, set by the `authenticate` pre-handler. */
    userId: string;
  }
  interface FastifyInstance {
    /** Pre-handler that requires `Authorization: Bearer <jwt>` and sets `request.userId`. */
    authenticate: (request: FastifyRequest) => Promise<void>;
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function registerAuthentication(app: FastifyInstance, tokens: TokenService): void {
  app.decorateRequest('userId', '');
  app.decorate('authenticate', async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    if (header === undefined || header.trim() === '') {
      throw appError('missing_token', 'This endpoint needs the token from /verify-payment: send "Authorization: Bearer <jwt_token>".', {
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
    }
    const match = BEARER.exec(header);
    if (match?.[1] === undefined) {
      throw appError('invalid_token', 'The Authorization header must be "Bearer <jwt_token>".', {
        headers: { 'WWW-Authenticate': 'Bearer error="invalid_request"' },
      });
    }
    request.userId = await tokens.verify(match[1]);
  });
}
