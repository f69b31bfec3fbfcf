// Measures the generation queue's own cost: tasks per second through the embedded queue with an engine
// that returns at once, next to the same number of bare inserts and updates on the same database. Both
// run in this process on SQLite and on PostgreSQL (loopback), so the difference is the pipeline's work
// per task: claim, lease, preparation lookup, storing, recording and settling the run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { migrateToLatest, openDatabase } from '../src/adapters/database/database.js';
import { createContainer } from '../src/container.js';
import { startWorkers } from '../src/start/workers.js';
import { testConfig } from '../test/helpers/app.js';
import { type DatabaseKind, DATABASE_KINDS } from '../test/helpers/databases.js';
import { ScriptedEngine } from '../test/helpers/fake-engines.js';
import { insertTestJob, insertTestPack, waitFor } from '../test/helpers/generation.js';
import { MemoryStorage } from '../test/helpers/memory-storage.js';
import { formatRow } from './lib/load.js';
import { measurePackRun } from './lib/pack-run.js';

const TASKS = 300;
const CONCURRENCY = 4;

interface Measurement {
  database: string;
  pipelineTasksPerSecond: number;
  bareOperationsPerSecond: number;
}

export default async function pipelineBenchmark(): Promise<string> {
  const packRun = await measurePackRun(4, 4);
  const rows: Measurement[] = [];
  for (const kind of DATABASE_KINDS) {
    if (kind.skip !== false) {
      console.log(`skipping ${kind.name}: ${kind.skip}`);
      continue;
    }
    rows.push(await measure(kind));
  }

  return [
    `Queue overhead: ${TASKS} tasks of one image each through the embedded queue, WORKER_CONCURRENCY=${CONCURRENCY},`,
    'an engine that returns an 8×8 JPEG at once and in-memory storage; from the start-job transaction to the',
    'run being completed. Baseline: the same number of single-row INSERTs followed by one UPDATE per row, one',
    'at a time, on the same database.',
    '',
    formatRow(['database', 'tasks/s through the queue', 'baseline insert+update pairs/s', 'queue cost per task']),
    formatRow(['---', '---', '---', '---']),
    ...rows.map((row) =>
      formatRow([
        row.database,
        row.pipelineTasksPerSecond.toFixed(0),
        row.bareOperationsPerSecond.toFixed(0),
        `${(1000 / row.pipelineTasksPerSecond - 1000 / row.bareOperationsPerSecond).toFixed(2)} ms more`,
      ]),
    ),
    '',
    `Pack run: ${packRun.numPrompts} prompts × ${packRun.numImagesPerPrompt} images (1024×1024) from one uploaded selfie (astronaut.jpg),`,
    'through `node dist/cli.js start` in a child process on the embedded defaults (SQLite, local disk, local',
    'engine, WORKER_CONCURRENCY=2), from POST /start-job until /job-status, polled every 50 ms, reports the run',
    'completed. Baseline: the same engine in the benchmark process preparing the photo and rendering the same',
    'images, two prompts at a time, with nothing stored or recorded.',
    '',
    formatRow(['measurement', 'wall time', 'images per minute']),
    formatRow(['---', '---', '---']),
    formatPackRunRow('through the pipeline', packRun.pipelineMs, packRun),
    formatPackRunRow('baseline: the engine alone', packRun.directMs, packRun),
  ].join('\n');
}

function formatPackRunRow(label: string, milliseconds: number, run: { numPrompts: number; numImagesPerPrompt: number }): string {
  const images = run.numPrompts * run.numImagesPerPrompt;
  return formatRow([label, `${(milliseconds / 1000).toFixed(2)} s`, Math.round((images / milliseconds) * 60_000)]);
}

async function measure(kind: DatabaseKind): Promise<Measurement> {
  const database = await kind.create();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'envision-bench-'));
  const connection = openDatabase(database.url);
  try {
    await migrateToLatest(connection.db);
    const config = testConfig(database.url, dataDir, {
      WORKER_CONCURRENCY: String(CONCURRENCY),
      WORKER_POLL_INTERVAL_MS: '50',
    });
    const engine = new ScriptedEngine('local', 1);
    const container = await createContainer(config, { database: connection, engines: { local: engine }, storage: new MemoryStorage() });

    const userId = 'bench-user';
    const now = Date.now();
    await connection.db
      .insertInto('users')
      .values({
        id: userId,
        environment: 'Sandbox',
        original_transaction_id: 'bench',
        latest_transaction_id: 'bench',
        product_id: 'bench',
        expires_at: now + 3_600_000,
        subscription_status: 'active',
        auto_renew: 1,
        revoked_at: null,
        revocation_reason: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    const jobId = await insertTestJob(connection.db, userId);
    await insertTestPack(connection.db, { name: 'bench', numPrompts: TASKS, numImagesPerPrompt: 1 });

    const workers = startWorkers(container);
    const started = performance.now();
    await container.generation.service.startJob(userId, jobId, 'bench');
    await waitFor('the benchmark run', async () => {
      const run = await connection.db.selectFrom('runs').select('status').where('job_id', '=', jobId).executeTakeFirstOrThrow();
      return run.status === 'completed' ? true : undefined;
    }, 600_000);
    const pipelineSeconds = (performance.now() - started) / 1000;
    await workers.stop(5_000);

    const bareSeconds = await measureBareWrites(connection);
    return { database: kind.name, pipelineTasksPerSecond: TASKS / pipelineSeconds, bareOperationsPerSecond: TASKS / bareSeconds };
  } finally {
    await connection.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Inserts TASKS rows one at a time, then updates each once; returns the seconds it took. */
async function measureBareWrites(connection: ReturnType<typeof openDatabase>): Promise<number> {
  await sql`create table bench_rows (id integer primary key, status text not null, updated_at bigint not null)`.execute(connection.db);
  const started = performance.now();
  for (let id = 0; id < TASKS; id += 1) {
    await sql`insert into bench_rows (id, status, updated_at) values (${id}, 'pending', ${Date.now()})`.execute(connection.db);
  }
  for (let id = 0; id < TASKS; id += 1) {
    await sql`update bench_rows set status = 'done', updated_at = ${Date.now()} where id = ${id}`.execute(connection.db);
  }
  return (performance.now() - started) / 1000;
}
