import { openDatabase } from '../adapters/database/database.js';
import { QueuedTaskRepository } from '../adapters/database/repositories/queued-task-repository.js';
import { createBullMqTaskQueue } from '../adapters/queue/bullmq-queue.js';
import type { Config } from '../config/config.js';
import pino from 'pino';

const DEFAULT_LIMIT = 50;

/**
 * Prints the tasks that failed for good in the Redis queue, one JSON object per line, newest first:
 * `envision dead-letters [--limit N]`. Each names the task, its run and engine, the attempts and the error.
 */
export async function listDeadLetters(config: Config, args: string[], print: (line: string) => void = console.log): Promise<void> {
  if (config.redisQueue === undefined) {
    throw new Error('dead-letters reads the Redis queue: set REDIS_URL (the embedded queue keeps failed tasks in generation_tasks with status "failed")');
  }
  const limit = parseLimit(args);
  const database = openDatabase(config.databaseUrl, { maxConnections: 1 });
  const queue = createBullMqTaskQueue(config.redisQueue, config.generation, new QueuedTaskRepository(database.db), () => [], pino({ level: 'silent' }));
  try {
    for (const letter of await queue.listDeadLetters(limit)) {
      print(JSON.stringify({ ...letter, failedAt: letter.failedAt === undefined ? null : new Date(letter.failedAt).toISOString() }));
    }
  } finally {
    await queue.close();
    await database.close();
  }
}

function parseLimit(args: string[]): number {
  if (args.length === 0) {
    return DEFAULT_LIMIT;
  }
  const [flag, value] = args;
  const limit = Number(value);
  if (flag !== '--limit' || args.length !== 2 || !Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new Error(`Usage: envision dead-letters [--limit N], with N from 1 to 10000; got "${args.join(' ')}"`);
  }
  return limit;
}
