import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BUILT_CLI = path.join(ROOT, 'dist', 'cli.js');

/** Finds a free loopback port by binding port 0 and closing it again. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Compiles `src/` to `dist/`, which the process tests and benchmarks start as a user would. */
export function buildDist(): void {
  const build = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (build.status !== 0) {
    throw new Error(`tsc failed:\n${build.stdout}${build.stderr}`);
  }
}

/**
 * A redis-server of its own on a loopback port, without persistence, so a restart loses every key, the
 * worst case for the queue. The shared Redis on 6379 is never restarted.
 */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  private readonly directory = mkdtempSync(path.join(tmpdir(), 'envision-redis-'));

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.directory],
      { stdio: 'ignore' },
    );
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    // Refused connections are expected until the server listens; the loop below retries them.
    client.on('error', () => undefined);
    try {
      for (let tries = 0; ; tries += 1) {
        try {
          await client.connect();
          await client.ping();
          return;
        } catch (error) {
          client.disconnect();
          if (tries > 100 || this.child.exitCode !== null) {
            throw new Error(`redis-server on port ${this.port} did not start`, { cause: error });
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) {
      return;
    }
    child.kill('SIGKILL');
    await once(child, 'exit');
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.directory, { recursive: true, force: true });
  }
}

export interface LogLine {
  pid?: number;
  level?: number;
  msg?: string;
  [field: string]: unknown;
}

/**
 * An `envision` process started by a test or benchmark, with its JSON log lines. Benchmarks run the
 * built `dist/`; tests run the sources through tsx, so test files never race to rebuild `dist/`.
 */
export class EnvisionProcess {
  readonly lines: LogLine[] = [];
  readonly child: ChildProcess;

  constructor(
    readonly name: string,
    command: string | string[],
    env: Record<string, string>,
    runs: 'dist' | 'source' = 'dist',
  ) {
    const entry = runs === 'dist' ? [BUILT_CLI] : ['--import', 'tsx', path.join(ROOT, 'src', 'cli.ts')];
    this.child = spawn(process.execPath, [...entry, ...[command].flat()], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream }).on('line', (text) => {
        try {
          this.lines.push(JSON.parse(text) as LogLine);
        } catch {
          this.lines.push({ msg: text });
        }
      });
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first log line that passes `test`; rejects when the process exits first. */
  waitForLine(test: (line: LogLine) => boolean, limitMs = 60_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const giveUpAt = Date.now() + limitMs;
      const timer = setInterval(() => {
        const found = this.lines.find(test);
        if (found !== undefined) {
          clearInterval(timer);
          resolve(found);
        } else if (this.child.exitCode !== null || Date.now() > giveUpAt) {
          clearInterval(timer);
          reject(new Error(`${this.name} ${this.child.exitCode !== null ? `exited with ${this.child.exitCode}` : 'gave no such line'}:\n${this.tail()}`));
        }
      }, 20);
    });
  }

  /** Peak resident memory of the process so far (VmHWM), in bytes. */
  peakRssBytes(): number {
    return readPeakRss(this.pid);
  }

  /** Returns the last log lines, for failure messages. */
  tail(count = 30): string {
    return this.lines
      .slice(-count)
      .map((line) => JSON.stringify(line))
      .join('\n');
  }

  /** Ends the process as a crash would: SIGKILL, no shutdown. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await once(this.child, 'exit');
    }
  }

  /** Asks the process to shut down (SIGTERM) and waits for it. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      await once(this.child, 'exit');
    }
  }
}

/** Peak resident set size of a live process from /proc (Linux), in bytes. */
export function readPeakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (match === null) {
    throw new Error(`No VmHWM in /proc/${pid}/status`);
  }
  return Number(match[1]) * 1024;
}

/** s3rver in a child process on 127.0.0.1 with one bucket; see s3rver-process.ts. */
export interface S3rverProcess {
  endpoint: string;
  bucket: string;
  pid: number;
  /** Environment variables that point the S3 store at this server. */
  storageEnv(keyPrefix?: string): Record<string, string>;
  close(): Promise<void>;
}

export async function startS3rverProcess(bucket = 'envision-scale'): Promise<S3rverProcess> {
  const directory = mkdtempSync(path.join(tmpdir(), 'envision-s3rver-'));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/s3rver-process.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', S3_DIRECTORY: directory, S3_BUCKET: bucket },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await Promise.race([
    once(createInterface({ input: child.stdout! }), 'line'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`s3rver exited with ${String(code)} before listening`);
    }),
  ])) as [string];
  const { port } = JSON.parse(line) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    pid: child.pid!,
    storageEnv: (keyPrefix = '') => ({
      STORAGE_DRIVER: 's3',
      S3_BUCKET: bucket,
      S3_ENDPOINT: endpoint,
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      ...(keyPrefix === '' ? {} : { S3_KEY_PREFIX: keyPrefix }),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    }),
    close: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** Lists the pids of a process's direct children (Linux), such as the API processes of a node:cluster primary. */
export function childPids(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(/\s+/).map(Number);
}
