// Measures photo normalisation and concurrent uploads, each beside a baseline from the same run:
// - normalising a 12-megapixel JPEG (time and peak memory) against sharp decoding the same file;
// - 20 concurrent 10 MB uploads to the built server, sampling its resident memory, against the same
//   uploads to a bare node:http server that only reads the bodies.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { loadConfig } from '../src/config/config.js';
import { migrateToLatest, openDatabase } from '../src/adapters/database/database.js';
import { TokenService } from '../src/domain/auth/token-service.js';
import { systemClock } from '../src/domain/clock.js';
import { insertUser } from '../test/helpers/users.js';
import { multipartForm } from './lib/multipart.js';
import { formatRow, startBareServer, stopChild } from './lib/load.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILT_CLI = path.join(ROOT, 'dist', 'cli.js');
const BUILT_NORMALISER = path.join(ROOT, 'dist', 'adapters', 'images', 'photo-normaliser.js');
const JWT_SECRET = randomBytes(48).toString('base64url');
const NORMALISE_RUNS = 5;
const CONCURRENT_UPLOADS = 20;
const RSS_TARGET_MB = 400;

export default async function uploadsBenchmark(): Promise<string> {
  if (!existsSync(BUILT_CLI)) {
    throw new Error('dist/ is missing: run the benchmarks with `npm run bench`, which builds first');
  }
  const workDirectory = mkdtempSync(path.join(tmpdir(), 'envision-bench-uploads-'));
  try {
    const photo = path.join(workDirectory, 'photo-12mp.jpg');
    const { width, height, bytes } = await writeNoisyJpeg(photo);
    const photoLabel = `${width}×${height} JPEG, ${megabytes(bytes)} MB`;

    const { uploads: limits } = loadConfig({ DATA_DIR: workDirectory, JWT_SECRET });
    const normaliserOptions = { maxPixels: limits.maxPixels, maxDimension: limits.photoMaxDimension, thumbnailDimension: 384, concurrency: 1 };
    const normalise = await measureInChild('normalise', photo, normaliserOptions);
    const decode = await measureInChild('decode', photo, normaliserOptions);
    const idle = await measureInChild('idle', photo, normaliserOptions);
    const uploads = await measureUploads(workDirectory, readFileSync(photo));

    return [
      `Photo: one ${photoLabel} of blurred noise (little redundancy, so decoding is near its worst case).`,
      `Normalisation to the default long side of ${limits.photoMaxDimension} px runs ${NORMALISE_RUNS} times, one at a time, in a child process; peak memory is that process's maximum resident set size.`,
      `Uploads: ${CONCURRENT_UPLOADS} at once, each a multipart body with that photo, to \`node dist/cli.js serve\` (SQLite, default limits with ${limits.processingConcurrency} photos normalised at a time, quality gate disabled); its resident memory is read from /proc every 10 ms.`,
      '',
      formatRow(['measurement', 'result', 'baseline in the same run']),
      formatRow(['---', '---', '---']),
      formatRow([
        'normalise a 12 MP JPEG (median time)',
        `${milliseconds(median(normalise.times))} ms`,
        `sharp decode only, same file: ${milliseconds(median(decode.times))} ms`,
      ]),
      formatRow([
        'peak memory of the normalising process',
        `${megabytes(normalise.maxRssBytes)} MB`,
        `sharp decode only: ${megabytes(decode.maxRssBytes)} MB; sharp loaded, idle: ${megabytes(idle.maxRssBytes)} MB`,
      ]),
      formatRow([
        `${CONCURRENT_UPLOADS} concurrent uploads: all answered`,
        `${seconds(uploads.server.elapsedMs)} s, statuses ${describeStatuses(uploads.server.statuses)}`,
        `bare node:http server reading the same bodies: ${seconds(uploads.bare.elapsedMs)} s`,
      ]),
      formatRow([
        'API server resident memory, peak during the uploads',
        `${megabytes(uploads.server.peakRssBytes)} MB (target: under ${RSS_TARGET_MB} MB)`,
        `API server idle before the uploads: ${megabytes(uploads.server.idleRssBytes)} MB; bare server peak: ${megabytes(uploads.bare.peakRssBytes)} MB`,
      ]),
    ].join('\n');
  } finally {
    rmSync(workDirectory, { recursive: true, force: true });
  }
}

/** Writes a 4000×3000 JPEG of about 10 MB: blurred random noise at quality 95. */
async function writeNoisyJpeg(file: string): Promise<{ width: number; height: number; bytes: number }> {
  const width = 4000;
  const height = 3000;
  const noise = randomBytes(width * height * 3);
  const jpeg = await sharp(noise, { raw: { width, height, channels: 3 } }).blur(0.6).jpeg({ quality: 95 }).toBuffer();
  writeFileSync(file, jpeg);
  return { width, height, bytes: jpeg.length };
}

interface ChildMeasurement {
  times: number[];
  maxRssBytes: number;
}

/**
 * Runs `mode` in a fresh Node.js process, so the peak resident memory belongs to that work alone:
 * `normalise` runs the built PhotoNormaliser, `decode` has sharp decode the file to raw pixels, and
 * `idle` loads the same modules and does nothing.
 */
async function measureInChild(mode: 'normalise' | 'decode' | 'idle', photo: string, normaliserOptions: object): Promise<ChildMeasurement> {
  const script = `
    import sharp from 'sharp';
    const { PhotoNormaliser } = await import(${JSON.stringify(pathToFileURL(BUILT_NORMALISER).href)});
    const normaliser = new PhotoNormaliser(${JSON.stringify(normaliserOptions)});
    const times = [];
    for (let run = 0; run < ${NORMALISE_RUNS} && '${mode}' !== 'idle'; run += 1) {
      const started = performance.now();
      if ('${mode}' === 'normalise') {
        await normaliser.normalise(${JSON.stringify(photo)});
      } else {
        await sharp(${JSON.stringify(photo)}).raw().toBuffer();
      }
      times.push(performance.now() - started);
    }
    console.log(JSON.stringify({ times, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) {
    throw new Error(`The ${mode} measurement exited with code ${code}`);
  }
  return JSON.parse(output) as ChildMeasurement;
}

interface UploadRun {
  elapsedMs: number;
  statuses: number[];
  peakRssBytes: number;
}

async function measureUploads(workDirectory: string, photo: Buffer) {
  const dataDirectory = path.join(workDirectory, 'data');
  const token = await createUser(path.join(dataDirectory, 'envision.sqlite'));
  const server = await startApiServer(dataDirectory);
  try {
    const jobId = await openJob(server.url, token);
    const form = multipartForm(jobId, photo);
    const idleRssBytes = await sampleRss(server.pid, () => new Promise((resolve) => setTimeout(resolve, 1000)));
    const serverRun = await sendUploads(server.url, server.pid, form, token);

    const bare = await startBareServer(Buffer.from('{}'), { 'content-type': 'application/json' });
    try {
      const bareRun = await sendUploads(bare.url, bare.pid!, form, token);
      return { server: { ...serverRun, idleRssBytes: idleRssBytes.peak }, bare: bareRun };
    } finally {
      await bare.stop();
    }
  } finally {
    await stopChild(server.child);
  }
}

/** Creates the database and a user straight in SQLite, as /verify-payment would, and returns its token. */
async function createUser(databaseFile: string): Promise<string> {
  const connection = openDatabase(databaseFile);
  try {
    await migrateToLatest(connection.db);
    const id = await insertUser(connection.db, Date.now());
    return await new TokenService(JWT_SECRET, 3600, systemClock).issue(id);
  } finally {
    await connection.close();
  }
}

async function startApiServer(dataDirectory: string): Promise<{ child: ChildProcess; pid: number; url: string }> {
  const child = spawn(process.execPath, [BUILT_CLI, 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDirectory,
      JWT_SECRET,
      LOG_LEVEL: 'info',
      UPLOAD_MAX_PHOTOS_PER_JOB: String(CONCURRENT_UPLOADS + 5),
      UPLOAD_RATE_LIMIT_PER_MINUTE: '1000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`The API server exited with code ${code} before listening`)));
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; address?: string };
      if (entry.msg === 'Envision API listening' && entry.address !== undefined) {
        resolve(entry.address);
      }
    });
  });
  return { child, pid: child.pid!, url };
}

async function openJob(baseUrl: string, token: string): Promise<string> {
  const response = await fetch(`${baseUrl}/initalize-job`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) {
    throw new Error(`/initalize-job returned ${response.status}: ${await response.text()}`);
  }
  return ((await response.json()) as { jobId: string }).jobId;
}

/** Sends the form CONCURRENT_UPLOADS times at once and samples the server's resident memory meanwhile. */
async function sendUploads(baseUrl: string, pid: number, form: { body: Buffer; contentType: string }, token: string): Promise<UploadRun> {
  let statuses: number[] = [];
  const started = performance.now();
  const rss = await sampleRss(pid, async () => {
    statuses = await Promise.all(Array.from({ length: CONCURRENT_UPLOADS }, () => postForm(`${baseUrl}/upload`, form, token)));
  });
  return { elapsedMs: performance.now() - started, statuses, peakRssBytes: rss.peak };
}

function postForm(url: string, form: { body: Buffer; contentType: string }, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': form.contentType, 'content-length': form.body.length },
        agent: false,
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(form.body);
  });
}

/** Runs `work` while reading the process's resident set size from /proc every 10 ms; returns the peak. */
async function sampleRss(pid: number, work: () => Promise<unknown>): Promise<{ peak: number }> {
  let peak = readRss(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, readRss(pid));
  }, 10);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return { peak: Math.max(peak, readRss(pid)) };
}

function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kilobytes = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kilobytes === undefined) {
    throw new Error(`No VmRSS in /proc/${pid}/status; this benchmark needs Linux`);
  }
  return Number(kilobytes) * 1024;
}

function describeStatuses(statuses: number[]): string {
  const counts = new Map<number, number>();
  statuses.forEach((status) => counts.set(status, (counts.get(status) ?? 0) + 1));
  return [...counts].map(([status, count]) => `${count} × ${status}`).join(', ');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function milliseconds(value: number): string {
  return value.toFixed(0);
}

function seconds(milliseconds: number): string {
  return (milliseconds / 1000).toFixed(1);
}

function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
