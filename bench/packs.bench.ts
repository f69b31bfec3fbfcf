// GET /packs-info on the built server against a bare node:http server that sends the same bytes and headers.
// Both run as child processes on loopback; autocannon sends the load from this process.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LoadResult, formatRow, runLoad, startBareServer, stopChild } from './lib/load.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = 10;
const WARM_UP_SECONDS = 2;
const MEASURE_SECONDS = 3;
const CONNECTIONS = 16;
/** Linux counts process CPU time in clock ticks of 10 ms (USER_HZ = 100 on common kernels). */
const MICROSECONDS_PER_TICK = 10_000;

/** Asks the kernel for a free loopback port. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') {
    throw new Error('could not get a free port');
  }
  return address.port;
}

/**
 * Starts `dist/cli.js serve` on a fresh SQLite database with the production log level (one info line per
 * request, written to /dev/null so this process does not pay for reading it).
 */
async function startBuiltServer(dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const devNull = openSync('/dev/null', 'w');
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'serve'], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      JWT_SECRET: 'bench-secret-that-is-long-enough-for-hs256-0123456789',
    },
    stdio: ['ignore', devNull, 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 200; attempt += 1) {
    if (child.exitCode !== null) {
      throw new Error(`the server exited with code ${child.exitCode} before it was ready`);
    }
    try {
      if ((await fetch(`${url}/readyz`)).ok) {
        return { url, child };
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stopChild(child);
  throw new Error('the server was not ready after 20 seconds');
}

/** Returns user plus system CPU time of a process in clock ticks, or undefined where /proc is missing. */
function cpuTicks(pid: number | undefined): number | undefined {
  if (pid === undefined) {
    return undefined;
  }
  try {
    // Fields after the command name in /proc/<pid>/stat; utime and stime are the 12th and 13th of them.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

interface Round {
  load: LoadResult;
  /** Server CPU time per request served, in microseconds, or undefined without /proc. */
  cpuMicroseconds: number | undefined;
}

async function measure(url: string, pid: number | undefined, headers: Record<string, string> = {}, durationSeconds = MEASURE_SECONDS): Promise<Round> {
  const before = cpuTicks(pid);
  const load = await runLoad({ url, headers, connections: CONNECTIONS, durationSeconds });
  const after = cpuTicks(pid);
  // autocannon reports the mean of per-second counts; times the duration it approximates the total.
  const requests = load.requestsPerSecond * durationSeconds;
  const cpuMicroseconds =
    before === undefined || after === undefined || requests === 0 ? undefined : ((after - before) * MICROSECONDS_PER_TICK) / requests;
  return { load, cpuMicroseconds };
}

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : Math.round((sorted[middle - 1]! + sorted[middle]!) / 2);
}

function requestsPerSecond(round: Round): number {
  return round.load.requestsPerSecond;
}

function medianCpu(rounds: Round[]): number | undefined {
  const values = rounds.map((round) => round.cpuMicroseconds).filter((value) => value !== undefined);
  return values.length === 0 ? undefined : median(values.map((value) => Math.round(value * 10))) / 10;
}

/** Cells of a result row: requests per second per round, their median, median CPU per request, latency. */
function summarize(rounds: Round[]): Array<string | number> {
  const last = rounds.at(-1)!.load;
  return [
    rounds.map(requestsPerSecond).join(', '),
    median(rounds.map(requestsPerSecond)),
    medianCpu(rounds) ?? 'n/a',
    `${last.latencyP50Ms} / ${last.latencyP99Ms}`,
  ];
}

function checkClean(name: string, result: LoadResult): void {
  if (result.errors > 0 || result.non2xx > 0) {
    throw new Error(`${name}: ${result.errors} errors and ${result.non2xx} non-2xx responses during the run`);
  }
}

export default async function packsBenchmark(): Promise<string> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'envision-bench-packs-'));
  const server = await startBuiltServer(dataDir);
  try {
    const response = await fetch(`${server.url}/packs-info`);
    const body = Buffer.from(await response.arrayBuffer());
    const etag = response.headers.get('etag') ?? '';
    const headers = {
      'content-type': response.headers.get('content-type') ?? 'application/json; charset=utf-8',
      etag,
      'cache-control': response.headers.get('cache-control') ?? 'no-cache',
    };
    const bare = await startBareServer(body, headers);
    try {
      const bareUrl = `${bare.url}/packs-info`;
      const serverUrl = `${server.url}/packs-info`;
      await measure(bareUrl, bare.pid, {}, WARM_UP_SECONDS);
      await measure(serverUrl, server.child.pid, {}, WARM_UP_SECONDS);

      // Short rounds alternate, so load from other processes on the machine falls on both servers alike.
      // Each round of the server is compared with the baseline round just before it.
      const bareRounds: Round[] = [];
      const serverRounds: Round[] = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        bareRounds.push(await measure(bareUrl, bare.pid));
        serverRounds.push(await measure(serverUrl, server.child.pid));
      }
      const revalidation = await measure(serverUrl, server.child.pid, { 'if-none-match': etag });
      [...bareRounds, ...serverRounds].forEach((round) => checkClean('/packs-info', round.load));
      if (revalidation.load.errors > 0) {
        throw new Error(`revalidation: ${revalidation.load.errors} errors during the run`);
      }

      const bareSummary = summarize(bareRounds);
      const serverSummary = summarize(serverRounds);
      const revalidationSummary = summarize([revalidation]);
      const rows = [
        formatRow(['server', 'requests/s per round', 'median requests/s', 'server CPU per request (µs), median', 'p50 / p99 latency (ms), last round']),
        formatRow(['---', '---', '---', '---', '---']),
        formatRow(['bare node:http, same bytes', ...bareSummary]),
        formatRow(['Envision GET /packs-info', ...serverSummary]),
        formatRow(['Envision, If-None-Match (304)', ...revalidationSummary]),
      ];
      const requestRatio = median(serverRounds.map(requestsPerSecond)) / median(bareRounds.map(requestsPerSecond));
      const pairRatios = serverRounds.map((round, index) => requestsPerSecond(round) / requestsPerSecond(bareRounds[index]!));
      const medianPairRatio = [...pairRatios].sort((left, right) => left - right)[Math.floor(pairRatios.length / 2)]!;
      const bareCpu = medianCpu(bareRounds);
      const serverCpu = medianCpu(serverRounds);
      const cpuRatio = bareCpu === undefined || serverCpu === undefined ? 'n/a' : (bareCpu / serverCpu).toFixed(2);
      return [
        `### GET /packs-info`,
        '',
        `${body.length}-byte body, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${MEASURE_SECONDS} s after a ${WARM_UP_SECONDS} s warm-up,`,
        'one API process (WEB_CONCURRENCY=1) on SQLite with LOG_LEVEL=info (logs to /dev/null).',
        '',
        ...rows,
        '',
        `Envision / bare: ratio of the median requests per second **${requestRatio.toFixed(2)}**, median of the per-round ratios`,
        `**${medianPairRatio.toFixed(2)}**, ratio of CPU time per request (bare / Envision) **${cpuRatio}**. Target: 0.8 or better.`,
      ].join('\n');
    } finally {
      await bare.stop();
    }
  } finally {
    await stopChild(server.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
