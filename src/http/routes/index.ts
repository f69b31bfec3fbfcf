import type { FastifyInstance } from 'fastify';
import type { Container } from '../../container.js';
import { fileRoutes } from './files.js';
import { generationRoutes } from './generation.js';
import { healthRoutes } from './health.js';
import { metricsRoutes } from './metrics.js';
import { packsRoutes } from './packs.js';
import { paymentRoutes } from './payments.js';
import { uploadRoutes } from './uploads.js';
import { webhookRoutes } from './webhooks.js';

/** Registers every route module. Each feature adds its module here. */
export async function registerRoutes(app: FastifyInstance, container: Container): Promise<void> {
  await app.register(healthRoutes, { container });
  await app.register(metricsRoutes, { container });
  await app.register(packsRoutes, { container });
  await app.register(paymentRoutes, { container });
  await app.register(uploadRoutes, { container });
  await app.register(fileRoutes, { container });
  await app.register(webhookRoutes, { container });
  await app.register(generationRoutes, { generation: container.generation.service });
}
