// Sustained mixed traffic (the packs catalog, status polls, uploads, and runs started meanwhile) against
// two API processes (`envision serve`, WEB_CONCURRENCY=2) and one worker process (`envision worker`),
// once in scale mode (PostgreSQL, BullMQ on a Redis of its own, s3rver) and once on the embedded
// defaults (SQLite, local disk, the database queue), on this machine, in the same run.
//
// SCALE_BENCH_SECONDS sets the load's duration (default 60); `SCALE_BENCH_SECONDS=10 npm run bench --
// scale` is a quick run. Every process, server and fake listens on 127.0.0.1 only.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { openDatabase, type DatabaseConnection } from '../src/adapters/database/database.js';
import { TokenService } from '../src/domain/auth/token-service.js';
import { systemClock } from '../src/domain/clock.js';
import { postgres, type TestDatabase } from '../test/helpers/databases.js';
import { FakeReplicate } from '../test/helpers/fakes/fake-replicate.js';
import { fixture } from '../test/helpers/images.js';
import { childPids, EnvisionProcess, freePort, PrivateRedis, readPeakRss, type S3rverProcess, startS3rverProcess } from '../test/helpers/scale-services.js';
import { insertUser } from '../test/helpers/users.js';
import { multipartForm } from './lib/multipart.js';
import { formatRow } from './lib/load.js';

const SECONDS = Number(process.env.SCALE_BENCH_SECONDS ?? '60');
const JWT_SECRET = 'scale-benchmark-secret-that-is-long-enough-0123456789';
const PROMPTS = 2;
const IMAGES_PER_PROMPT = 2;
/** A run is started this often while the load runs, so tasks flow through the queue under load. */
const RUN_INTERVAL_MS = 2000;
const UPLOAD_JOBS = 20;
const CONNECTIONS = { packs: 8, status: 8, uploads: 2 };
const FINISH_LIMIT_MS = 300_000;

type Topology = 'embedded' | 'scale';

interface RouteResult {
  route: string;
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  serverErrors: number;
  otherNon2xx: number;
  socketErrors: number;
}

interface TopologyResult {
  topology: Topology;
  routes: RouteResult[];
  runsStarted: number;
  runsCompleted: number;
  lostRuns: number;
  startFailures: number;
  memory: Array<{ process: string; peakMb: number }>;
}

export default async function scaleBenchmark(): Promise<string> {
  if (!Number.isFinite(SECONDS) || SECONDS < 5) {
    throw new Error(`SCALE_BENCH_SECONDS must be a number of seconds, at least 5; got "${process.env.SCALE_BENCH_SECONDS}"`);
  }
  if (postgres.skip !== false) {
    throw new Error(`The scale benchmark needs PostgreSQL: ${postgres.skip}`);
  }
  const results = [await runTopology('embedded'), await runTopology('scale')];
  return report(results);
}

async function runTopology(topology: Topology): Promise<TopologyResult> {
  const directory = mkdtempSync(path.join(tmpdir(), `envision-bench-${topology}-`));
  const replicate = await FakeReplicate.start();
  replicate.runMilliseconds = 500;
  let database: TestDatabase | undefined;
  let s3: S3rverProcess | undefined;
  let redis: PrivateRedis | undefined;
  const processes: EnvisionProcess[] = [];
  try {
    const port = await freePort();
    let environment: Record<string, string> = {
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      JWT_SECRET,
      DATA_DIR: path.join(directory, 'data'),
      QUALITY_GATE_ENABLED: 'false',
      UPLOAD_RATE_LIMIT_PER_MINUTE: '100000',
      UPLOAD_MAX_PHOTOS_PER_JOB: '1000',
      GENERATION_ENGINE: 'replicate',
      REPLICATE_API_TOKEN: replicate.apiToken,
      REPLICATE_BASE_URL: replicate.url,
      REPLICATE_MODEL: 'fake/identity',
      REPLICATE_INPUT: JSON.stringify({ prompt: '{{prompt}}', seed: '{{seed}}', num_outputs: '{{image_count}}', image: '{{reference_image}}' }),
      REPLICATE_POLL_INTERVAL_MS: '200',
      WORKER_CONCURRENCY: '4',
    };
    if (topology === 'scale') {
      database = await postgres.create();
      s3 = await startS3rverProcess();
      redis = new PrivateRedis(await freePort());
      await redis.start();
      environment = { ...environment, DATABASE_URL: database.url, REDIS_URL: redis.url, ...s3.storageEnv() };
    }

    const migrate = new EnvisionProcess('migrate', 'migrate', environment);
    await new Promise((resolve) => migrate.child.once('exit', resolve));
    if (migrate.child.exitCode !== 0) {
      throw new Error(`migrate failed:\n${migrate.tail()}`);
    }
    const connection = openDatabase(environment.DATABASE_URL ?? path.join(environment.DATA_DIR!, 'envision.sqlite'));
    try {
      const seed = await seedCatalog(connection);
      // The API logs warnings only, so log lines do not load the machine; readiness comes from /readyz.
      const api = new EnvisionProcess('API primary', 'serve', { ...environment, WEB_CONCURRENCY: '2' });
      processes.push(api);
      await waitUntilReady(`http://127.0.0.1:${port}/readyz`, api);
      const worker = new EnvisionProcess('worker', 'worker', { ...environment, LOG_LEVEL: 'info' });
      processes.push(worker);
      await worker.waitForLine((line) => line.msg === 'generation workers started');

      const baseUrl = `http://127.0.0.1:${port}`;
      const client = new BenchClient(baseUrl, seed.token);
      const statusJob = await client.prepareJob();
      await client.startRun(statusJob, seed.packNames[0]!);
      await client.waitForRun(statusJob);
      const uploadJobs = await Promise.all(Array.from({ length: UPLOAD_JOBS }, () => client.openJob()));
      const runJobs = await Promise.all(Array.from({ length: Math.ceil((SECONDS * 1000) / RUN_INTERVAL_MS) }, () => client.prepareJob()));

      const runsStarted: string[] = [];
      let startFailures = 0;
      const loadDone = mixedLoad(baseUrl, seed.token, statusJob, uploadJobs);
      const starter = setInterval(() => {
        const jobId = runJobs[runsStarted.length + startFailures];
        if (jobId === undefined) {
          return;
        }
        const packName = seed.packNames[(runsStarted.length + startFailures) % seed.packNames.length]!;
        client.startRun(jobId, packName).then(
          () => runsStarted.push(jobId),
          () => {
            startFailures += 1;
          },
        );
      }, RUN_INTERVAL_MS);
      const routes = await loadDone;
      clearInterval(starter);

      let runsCompleted = 0;
      for (const jobId of runsStarted) {
        const status = await client.waitForRun(jobId);
        if (status.status === 'completed' && status.images === PROMPTS * IMAGES_PER_PROMPT) {
          runsCompleted += 1;
        }
      }

      const memory = [
        { process: 'API primary (node:cluster)', peakMb: megabytes(readPeakRss(api.pid)) },
        ...childPids(api.pid).map((pid, index) => ({ process: `API process ${index + 1}`, peakMb: megabytes(readPeakRss(pid)) })),
        { process: 'worker', peakMb: megabytes(readPeakRss(worker.pid)) },
      ];
      return {
        topology,
        routes,
        runsStarted: runsStarted.length,
        runsCompleted,
        lostRuns: runsStarted.length - runsCompleted,
        startFailures,
        memory,
      };
    } finally {
      await connection.close();
    }
  } finally {
    await Promise.allSettled(processes.map((process) => process.stop()));
    await replicate.close();
    await redis?.close();
    await s3?.close();
    await database?.drop();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function waitUntilReady(url: string, process: EnvisionProcess): Promise<void> {
  const giveUpAt = Date.now() + 60_000;
  for (;;) {
    const status = await fetch(url).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) {
      return;
    }
    if (Date.now() > giveUpAt || process.child.exitCode !== null) {
      throw new Error(`${process.name} did not become ready (last status ${status}):\n${process.tail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Inserts the packs and a user straight into the database, before any process caches the catalog. */
async function seedCatalog(connection: DatabaseConnection): Promise<{ token: string; packNames: string[] }> {
  const packNames: string[] = [];
  for (let index = 0; index < 12; index += 1) {
    const name = `bench_pack_${index}`;
    await connection.db
      .insertInto('packs')
      .values({
        name,
        display_name: `Bench pack ${index}`,
        is_active: 1,
        featured: index < 4 ? 1 : 0,
        featured_thumbnail: index < 4 ? `https://cdn.example.com/featured/${name}.png` : null,
        num_images_per_prompt: IMAGES_PER_PROMPT,
        num_prompts: PROMPTS,
        secondary_thumbnail_images: JSON.stringify([1, 2, 3, 4].map((image) => `https://cdn.example.com/${name}_${image}.png`)),
        thumbnail: JSON.stringify(`https://cdn.example.com/${name}.png`),
        prompts: JSON.stringify(Array.from({ length: PROMPTS }, (_, prompt) => ({ prompt: `portrait ${prompt}` }))),
        display_order: index,
        engine: null,
        extra: '{}',
        created_at: 0,
        updated_at: 0,
      })
      .execute();
    packNames.push(name);
  }
  const userId = await insertUser(connection.db, Date.now());
  const token = await new TokenService(JWT_SECRET, 24 * 3600, systemClock).issue(userId);
  return { token, packNames };
}

/** The calls the benchmark makes outside the measured load: jobs, photos, runs and their status. */
class BenchClient {
  private readonly authorization: Record<string, string>;

  constructor(
    private readonly baseUrl: string,
    token: string,
  ) {
    this.authorization = { authorization: `Bearer ${token}` };
  }

  async openJob(): Promise<string> {
    const response = await fetch(`${this.baseUrl}/initalize-job`, { headers: this.authorization });
    if (response.status !== 200) {
      throw new Error(`/initalize-job returned ${response.status}: ${await response.text()}`);
    }
    return ((await response.json()) as { jobId: string }).jobId;
  }

  /** Opens a job with one uploaded photo, ready for a run. */
  async prepareJob(): Promise<string> {
    const jobId = await this.openJob();
    const form = new FormData();
    form.set('jobId', jobId);
    form.set('image', new Blob([fixture('astronaut.jpg')], { type: 'image/jpeg' }), 'astronaut.jpg');
    const response = await fetch(`${this.baseUrl}/upload`, { method: 'POST', headers: this.authorization, body: form });
    if (response.status !== 200) {
      throw new Error(`/upload returned ${response.status}: ${await response.text()}`);
    }
    return jobId;
  }

  async startRun(jobId: string, packName: string): Promise<void> {
    const response = await fetch(`${this.baseUrl}/start-job`, {
      method: 'POST',
      headers: { ...this.authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ jobId, pack_name: packName }),
    });
    if (response.status !== 202) {
      throw new Error(`/start-job returned ${response.status}: ${await response.text()}`);
    }
  }

  /** Polls /job-status until the job's run has finished; the limit only stops a broken run from hanging. */
  async waitForRun(jobId: string): Promise<{ status: string; images: number }> {
    const giveUpAt = Date.now() + FINISH_LIMIT_MS;
    for (;;) {
      const response = await fetch(`${this.baseUrl}/job-status?jobId=${jobId}`, { headers: this.authorization });
      const body = (await response.json()) as { status: string; images?: unknown[] };
      if (['completed', 'partial', 'failed'].includes(body.status) || Date.now() > giveUpAt) {
        return { status: body.status, images: body.images?.length ?? 0 };
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Runs one autocannon instance per route at the same time, for SECONDS, and reports each route. */
async function mixedLoad(baseUrl: string, token: string, statusJob: string, uploadJobs: string[]): Promise<RouteResult[]> {
  const authorization = `Bearer ${token}`;
  const uploadBodies = uploadJobs.map((jobId) => multipartForm(jobId, fixture('astronaut.jpg')));
  let nextUpload = 0;

  const targets: Array<{ route: string; options: autocannon.Options }> = [
    { route: 'GET /packs-info', options: { url: `${baseUrl}/packs-info`, connections: CONNECTIONS.packs } },
    {
      route: 'GET /job-status',
      options: { url: `${baseUrl}/job-status?jobId=${statusJob}`, headers: { authorization }, connections: CONNECTIONS.status },
    },
    {
      route: 'POST /upload',
      options: {
        url: `${baseUrl}/upload`,
        connections: CONNECTIONS.uploads,
        requests: [
          {
            method: 'POST',
            setupRequest: (request) => {
              const form = uploadBodies[nextUpload % uploadBodies.length]!;
              nextUpload += 1;
              return { ...request, body: form.body, headers: { authorization, 'content-type': form.contentType } };
            },
          },
        ],
      },
    },
  ];
  const results = await Promise.all(targets.map((target) => autocannon({ ...target.options, duration: SECONDS })));
  return results.map((result, index) => {
    const statuses = Object.entries(result.statusCodeStats ?? {}) as Array<[string, { count?: number }]>;
    const serverErrors = statuses.filter(([code]) => code.startsWith('5')).reduce((sum, [, stat]) => sum + (stat.count ?? 0), 0);
    return {
      route: targets[index]!.route,
      requests: result.requests.total,
      requestsPerSecond: Math.round(result.requests.average),
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      serverErrors,
      otherNon2xx: result.non2xx - serverErrors,
      socketErrors: result.errors + result.timeouts,
    };
  });
}

function megabytes(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

function report(results: TopologyResult[]): string {
  const lines = [
    `${SECONDS} s of mixed traffic per topology: GET /packs-info (${CONNECTIONS.packs} connections), GET /job-status of a finished job (${CONNECTIONS.status}), POST /upload of a ${Math.round(fixture('astronaut.jpg').length / 1024)} KiB JPEG (${CONNECTIONS.uploads}, quality gate off), all at once from autocannon in the benchmark process, and a run of ${PROMPTS}×${IMAGES_PER_PROMPT} images started every ${RUN_INTERVAL_MS / 1000} s through a fake Replicate on loopback (500 ms per prediction).`,
    'Topology: `envision serve` with WEB_CONCURRENCY=2 (two API processes behind the node:cluster primary) and one `envision worker` (WORKER_CONCURRENCY=4), LOG_LEVEL=warn.',
    'Embedded: SQLite, files under DATA_DIR, the database queue. Scale: PostgreSQL 15 on 127.0.0.1, BullMQ on a redis-server of its own without persistence, s3rver in a child process.',
    '',
    formatRow(['topology', 'route', 'requests', 'requests/s', 'p50 ms', 'p99 ms', '5xx', 'other non-2xx', 'socket errors']),
    formatRow(['---', '---', '---', '---', '---', '---', '---', '---', '---']),
  ];
  for (const result of results) {
    for (const route of result.routes) {
      lines.push(
        formatRow([result.topology, route.route, route.requests, route.requestsPerSecond, route.p50Ms, route.p99Ms, route.serverErrors, route.otherNon2xx, route.socketErrors]),
      );
    }
  }
  lines.push('', formatRow(['topology', 'runs started', 'completed with all images', 'lost', 'start failures']), formatRow(['---', '---', '---', '---', '---']));
  for (const result of results) {
    lines.push(formatRow([result.topology, result.runsStarted, result.runsCompleted, result.lostRuns, result.startFailures]));
  }
  lines.push('', formatRow(['topology', 'process', 'peak resident memory (VmHWM), MB']), formatRow(['---', '---', '---']));
  for (const result of results) {
    for (const entry of result.memory) {
      lines.push(formatRow([result.topology, entry.process, entry.peakMb]));
    }
  }
  return lines.join('\n');
}
