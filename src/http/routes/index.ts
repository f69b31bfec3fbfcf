import type { FastifyInstance } from 'fastify';
import type { Container } from '../../container.js';
import { healthRoutes } from './health.js';
import { packsRoutes } from './packs.js';

/** Registers every route module. Each feature adds its module here. */
export async function registerRoutes(app: FastifyInstance, container: Container): Promise<void> {
  await app.register(healthRoutes, { container });
  await app.register(packsRoutes, { container });
}
