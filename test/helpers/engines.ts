import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { EnginePhoto, RenderInput } from '../../src/adapters/engines/generation-engine.js';
import type { EngineCallRow } from '../../src/adapters/database/schema.js';
import type { TestContext } from './app.js';
import type { MemoryStorage } from './memory-storage.js';
import { createTestUser } from './users.js';

/** A pino logger at debug level whose lines are kept in `lines`, to check what was logged. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

export interface SeededJob {
  jobId: string;
  runId: string;
  photos: EnginePhoto[];
  packName: string;
}

const PHOTO_FIXTURES = ['astronaut.png', 'camera.png'];

/**
 * Inserts a user, a job with two photos in `storage`, and a run with one generation task per prompt
 * index, so engines can record provider ids on real task rows.
 */
export async function seedJob(context: TestContext, storage: MemoryStorage, options: { prompts?: number } = {}): Promise<SeededJob> {
  const user = await createTestUser(context);
  const db = context.container.database.db;
  const now = Date.now();
  const jobId = randomUUID();
  await db.insertInto('jobs').values({ id: jobId, user_id: user.id, photo_count: PHOTO_FIXTURES.length, created_at: now, updated_at: now }).execute();

  const photos: EnginePhoto[] = [];
  for (const [index, fixture] of PHOTO_FIXTURES.entries()) {
    const id = randomUUID();
    const storageKey = `jobs/${jobId}/photos/${id}.png`;
    await storage.put(storageKey, readFileSync(new URL(`../fixtures/photos/${fixture}`, import.meta.url)), 'image/png');
    // The second photo has the larger face, so engines should rank it first.
    photos.push({ id, storageKey, width: 512, height: 512, faceBox: { x: 10, y: 10, width: 100 * (index + 1), height: 100 * (index + 1) } });
  }

  const runId = randomUUID();
  const packName = 'neon';
  await db
    .insertInto('runs')
    .values({
      id: runId,
      job_id: jobId,
      user_id: user.id,
      pack_name: packName,
      engine: 'test',
      status: 'processing',
      total_images: 4,
      completed_images: 0,
      failed_reason: null,
      created_at: now,
      updated_at: now,
      started_at: now,
      finished_at: null,
      notified_at: null,
    })
    .execute();
  for (let promptIndex = 0; promptIndex < (options.prompts ?? 2); promptIndex += 1) {
    await db
      .insertInto('generation_tasks')
      .values({
        id: randomUUID(),
        run_id: runId,
        prompt_index: promptIndex,
        prompt: 'a portrait',
        negative_prompt: null,
        seed: 1000 + promptIndex,
        image_count: 2,
        status: 'running',
        attempts: 1,
        max_attempts: 3,
        lease_owner: null,
        lease_expires_at: null,
        available_at: now,
        last_error: null,
        provider_id: null,
        started_at: now,
        finished_at: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
  }
  return { jobId, runId, photos, packName };
}

export function renderInput(job: SeededJob, storage: MemoryStorage, fields: Partial<RenderInput> & { preparation: unknown }): RenderInput {
  return {
    jobId: job.jobId,
    packName: job.packName,
    promptIndex: 0,
    prompt: 'a neon portrait of the person',
    negativePrompt: null,
    seed: 1234,
    imageCount: 2,
    storage,
    signal: new AbortController().signal,
    ...fields,
  };
}

export async function engineCalls(context: TestContext, jobId: string): Promise<EngineCallRow[]> {
  return context.container.database.db
    .selectFrom('engine_calls')
    .selectAll()
    .where('job_id', '=', jobId)
    .orderBy('created_at')
    .orderBy('batch_index')
    .execute();
}

export async function taskProviderId(context: TestContext, runId: string, promptIndex: number): Promise<string | null> {
  const row = await context.container.database.db
    .selectFrom('generation_tasks')
    .select('provider_id')
    .where('run_id', '=', runId)
    .where('prompt_index', '=', promptIndex)
    .executeTakeFirstOrThrow();
  return row.provider_id;
}

/** Polls `condition` every 5 ms until it holds; the test runner's timeout ends a wait that never does. */
export async function waitUntil(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
