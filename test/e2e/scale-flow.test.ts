import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { openDatabase, type DatabaseConnection } from '../../src/adapters/database/database.js';
import { TokenService } from '../../src/domain/auth/token-service.js';
import { systemClock } from '../../src/domain/clock.js';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { postgres, type TestDatabase } from '../helpers/databases.js';
import { FakeReplicate } from '../helpers/fakes/fake-replicate.js';
import { fixture } from '../helpers/images.js';
import { EnvisionProcess, freePort, PrivateRedis, type S3rverProcess, startS3rverProcess } from '../helpers/scale-services.js';
import { insertUser } from '../helpers/users.js';

const RUNS = 6;
const PROMPTS = 4;
const IMAGES_PER_PROMPT = 2;
/** Generous: the limit only stops a broken test from hanging; nothing is asserted about the time. */
const FINISH_LIMIT_MS = 240_000;

interface StartedRun {
  token: string;
  jobId: string;
  packName: string;
}

/**
 * The whole flow in scale mode, as separate processes on loopback: two API processes and two worker
 * processes on PostgreSQL, BullMQ on a Redis of the test's own, s3rver for storage and a fake Replicate as
 * the engine. One worker is killed mid-run and Redis restarts without its data mid-run; every run must
 * still complete with exactly its images.
 */
describe('scale mode across processes', { skip: postgres.skip }, () => {
  const dataDirectory = mkdtempSync(path.join(tmpdir(), 'envision-scale-'));
  const processes: EnvisionProcess[] = [];
  let database: TestDatabase;
  let connection: DatabaseConnection;
  let s3: S3rverProcess;
  let redis: PrivateRedis;
  let replicate: FakeReplicate;
  let apiUrls: string[];
  let environment: Record<string, string>;

  before(async () => {
    database = await postgres.create();
    s3 = await startS3rverProcess();
    redis = new PrivateRedis(await freePort());
    await redis.start();
    replicate = await FakeReplicate.start();
    replicate.runMilliseconds = 300;

    environment = {
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      JWT_SECRET: TEST_JWT_SECRET,
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `envision-e2e-${randomUUID()}`,
      ...s3.storageEnv(),
      QUALITY_GATE_ENABLED: 'false',
      UPLOAD_RATE_LIMIT_PER_MINUTE: '10000',
      GENERATION_ENGINE: 'replicate',
      REPLICATE_API_TOKEN: replicate.apiToken,
      REPLICATE_BASE_URL: replicate.url,
      REPLICATE_MODEL: 'fake/identity',
      REPLICATE_INPUT: JSON.stringify({ prompt: '{{prompt}}', seed: '{{seed}}', num_outputs: '{{image_count}}', image: '{{reference_image}}' }),
      REPLICATE_POLL_INTERVAL_MS: '100',
      WORKER_CONCURRENCY: '2',
      PACKS_REFRESH_INTERVAL_MS: '200',
      WORKER_LEASE_MS: '2000',
      TASK_RETRY_BASE_DELAY_MS: '50',
      TASK_RETRY_MAX_DELAY_MS: '200',
    };

    const migrate = new EnvisionProcess('migrate', 'migrate', { ...environment, DATA_DIR: dataDirectory }, 'source');
    await new Promise((resolve) => migrate.child.once('exit', resolve));
    assert.equal(migrate.child.exitCode, 0, migrate.tail());
    connection = openDatabase(database.url, { maxConnections: 2 });

    apiUrls = [];
    for (const name of ['api-1', 'api-2']) {
      const port = await freePort();
      const api = new EnvisionProcess(name, 'serve', { ...environment, PORT: String(port), DATA_DIR: path.join(dataDirectory, name) }, 'source');
      processes.push(api);
      await api.waitForLine((line) => line.msg === 'Envision API listening');
      apiUrls.push(`http://127.0.0.1:${port}`);
    }
    for (const name of ['worker-1', 'worker-2']) {
      processes.push(startWorker(name));
    }
    await Promise.all(processes.slice(2).map((worker) => worker.waitForLine((line) => line.msg === 'generation workers started')));
  });

  after(async () => {
    await Promise.allSettled(processes.map((process) => process.stop()));
    await connection?.close();
    await replicate?.close();
    await redis?.close();
    await s3?.close();
    await database?.drop();
    rmSync(dataDirectory, { recursive: true, force: true });
  });

  function startWorker(name: string): EnvisionProcess {
    return new EnvisionProcess(name, 'worker', { ...environment, DATA_DIR: path.join(dataDirectory, name) }, 'source');
  }

  /** Sends a request to one of the API processes, alternating, as a load balancer would. */
  let nextApi = 0;
  async function call(pathAndQuery: string, init: RequestInit = {}): Promise<Response> {
    const url = apiUrls[nextApi % apiUrls.length]!;
    nextApi += 1;
    return fetch(`${url}${pathAndQuery}`, init);
  }

  async function prepareRun(index: number): Promise<StartedRun> {
    const userId = await insertUser(connection.db, Date.now());
    const token = await new TokenService(TEST_JWT_SECRET, 3600, systemClock).issue(userId);
    const packName = `scale_pack_${index}_${randomUUID().slice(0, 8)}`;
    await connection.db
      .insertInto('packs')
      .values({
        name: packName,
        display_name: `Scale ${index}`,
        is_active: 1,
        featured: 0,
        featured_thumbnail: null,
        num_images_per_prompt: IMAGES_PER_PROMPT,
        num_prompts: PROMPTS,
        secondary_thumbnail_images: '[]',
        thumbnail: '""',
        prompts: JSON.stringify(Array.from({ length: PROMPTS }, (_, prompt) => ({ prompt: `portrait ${prompt}` }))),
        display_order: index,
        engine: null,
        extra: '{}',
        created_at: 0,
        updated_at: 0,
      })
      .execute();

    const authorization = { authorization: `Bearer ${token}` };
    const opened = await call('/initalize-job', { headers: authorization });
    assert.equal(opened.status, 200, await opened.clone().text());
    const { jobId } = (await opened.json()) as { jobId: string };
    const form = new FormData();
    form.set('jobId', jobId);
    form.set('image', new Blob([fixture('astronaut.jpg')], { type: 'image/jpeg' }), 'astronaut.jpg');
    const uploaded = await call('/upload', { method: 'POST', headers: authorization, body: form });
    assert.equal(uploaded.status, 200, await uploaded.clone().text());
    return { token, jobId, packName };
  }

  async function startRun(run: StartedRun): Promise<void> {
    const response = await call('/start-job', {
      method: 'POST',
      headers: { authorization: `Bearer ${run.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jobId: run.jobId, pack_name: run.packName }),
    });
    assert.equal(response.status, 202, await response.clone().text());
  }

  async function storedImages(): Promise<number> {
    const row = await connection.db.selectFrom('generated_images').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async function waitUntil(description: string, check: () => Promise<boolean>): Promise<void> {
    const giveUpAt = Date.now() + FINISH_LIMIT_MS;
    while (!(await check())) {
      if (Date.now() > giveUpAt) {
        throw new Error(`Gave up waiting for ${description}\n${processes.map((process) => `${process.name}:\n${process.tail(10)}`).join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('completes every run once despite a killed worker and a Redis restart', async () => {
    const runs: StartedRun[] = [];
    for (let index = 0; index < RUNS; index += 1) {
      runs.push(await prepareRun(index));
    }
    for (const run of runs) {
      await startRun(run);
    }
    const total = RUNS * PROMPTS * IMAGES_PER_PROMPT;

    await waitUntil('the first images', async () => (await storedImages()) > 0);
    await processes[2]!.kill();
    const afterKill = await storedImages();
    assert.ok(afterKill < total, 'the worker died while runs were still going');

    await waitUntil('progress after the kill', async () => (await storedImages()) > afterKill);
    const beforeRestart = await storedImages();
    await redis.stop();
    await redis.start();
    assert.ok(beforeRestart < total, 'Redis restarted while runs were still going');
    processes.push(startWorker('worker-3'));

    for (const run of runs) {
      let body: { status: string; images: Array<{ prompt_index: number; image_index: number; url: string }> } | undefined;
      await waitUntil(`run ${run.jobId} to finish`, async () => {
        const response = await call(`/job-status?jobId=${run.jobId}`, { headers: { authorization: `Bearer ${run.token}` } });
        body = (await response.json()) as typeof body;
        return body !== undefined && ['completed', 'partial', 'failed'].includes(body.status);
      });
      const keys = body!.images.map((image) => `${image.prompt_index}-${image.image_index}`);

      assert.equal(body!.status, 'completed', `run ${run.jobId}`);
      assert.equal(body!.images.length, PROMPTS * IMAGES_PER_PROMPT);
      assert.equal(new Set(keys).size, PROMPTS * IMAGES_PER_PROMPT, 'no image twice');
      assert.equal((await fetch(body!.images[0]!.url)).status, 200, 'the presigned link serves the image');
      assert.equal(await countObjects(`jobs/${run.jobId}/results/`), PROMPTS * IMAGES_PER_PROMPT, 'one stored object per image');
    }
    assert.equal(await storedImages(), total);
    const recovered = processes.slice(3).flatMap((worker) => worker.lines.filter((line) => line.msg === 'recovered open tasks that Redis did not have'));
    assert.ok(recovered.length > 0, 'a worker re-added the tasks Redis lost in its restart');
  });

  it('serves an imported catalog from every API process', async () => {
    const packName = `imported_${randomUUID().slice(0, 8)}`;
    const file = path.join(dataDirectory, 'catalog.json');
    writeFileSync(
      file,
      JSON.stringify({
        [`CONFIGS/prompt_configs/packs/${packName}`]: {
          'display-name': 'Imported while serving',
          is_active: true,
          num_images_per_prompt: 1,
          num_prompts: 1,
          'secondary-thumbnail-images': [],
          thumbnail: 'https://cdn.example.com/imported.png',
          prompts: [{ prompt: 'a portrait' }],
        },
      }),
    );

    const importer = new EnvisionProcess('packs import', ['packs', 'import', file], { ...environment, DATA_DIR: path.join(dataDirectory, 'importer') }, 'source');
    await new Promise((resolve) => importer.child.once('exit', resolve));
    assert.equal(importer.child.exitCode, 0, importer.tail());

    // Each process must serve the pack on its own: it reads the catalog version from PostgreSQL.
    for (const url of apiUrls) {
      await waitUntil(`${url} to serve ${packName}`, async () => {
        const catalog = (await (await fetch(`${url}/packs-info`)).json()) as { packs: Array<{ pack_name: string }> };
        return catalog.packs.some((pack) => pack.pack_name === packName);
      });
    }
  });

  async function countObjects(prefix: string): Promise<number> {
    const env = s3.storageEnv();
    const client = new S3Client({
      endpoint: env.S3_ENDPOINT,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: env.S3_ACCESS_KEY_ID!, secretAccessKey: env.S3_SECRET_ACCESS_KEY! },
    });
    try {
      const listing = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
      return listing.KeyCount ?? 0;
    } finally {
      client.destroy();
    }
  }
});
