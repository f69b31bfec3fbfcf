import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import { appError } from '../../domain/errors.js';
import type { FaceAnalysis, FaceAnalyzer } from './face-analyzer.js';

/** A photo for a worker: RGB bytes, transferred (not copied) to the worker thread. */
export interface WorkerRequest {
  taskId: number;
  pixels: ArrayBuffer;
  width: number;
  height: number;
}

export type WorkerReply =
  | { kind: 'ready' }
  | { kind: 'failed'; message: string }
  | { kind: 'result'; taskId: number; analysis: FaceAnalysis }
  | { kind: 'error'; taskId: number; message: string };

export interface FaceAnalysisPoolOptions {
  /** Maximum number of worker threads. Each thread loads its own copy of the models. */
  threads: number;
  /** Photos that may wait for a free thread; past that `analyze` fails with 503 service_unavailable. */
  maxQueuedPhotos?: number;
}

/**
 * Photos are analysed with their longer side reduced to this many pixels. The detector itself works on
 * 512 × 512, so more pixels only cost memory (each waiting photo keeps its RGB bytes in memory) and decoding time.
 */
const ANALYSIS_MAX_SIDE = 1600;
const DEFAULT_MAX_QUEUED_PHOTOS = 64;

interface Task {
  id: number;
  request: WorkerRequest;
  resolve(analysis: FaceAnalysis): void;
  reject(error: Error): void;
}

interface PoolWorker {
  worker: Worker;
  ready: boolean;
  task: Task | null;
}

/**
 * Runs face analysis on a small pool of worker threads, so the event loop keeps serving other requests
 * while the models run (0.3 to 1 s of CPU per photo). Threads start on the first photo, load the
 * models once and stay up until `close`. Photos beyond the free threads wait in a bounded queue.
 * A thread that crashes fails only its own photo and is replaced for the next one.
 */
export class FaceAnalysisPool implements FaceAnalyzer {
  private readonly workers = new Set<PoolWorker>();
  private readonly queue: Task[] = [];
  private readonly maxQueuedPhotos: number;
  private nextTaskId = 1;
  private closed = false;

  constructor(private readonly options: FaceAnalysisPoolOptions) {
    if (!Number.isInteger(options.threads) || options.threads < 1) {
      throw new Error(`FaceAnalysisPool needs at least one thread, got ${options.threads}`);
    }
    this.maxQueuedPhotos = options.maxQueuedPhotos ?? DEFAULT_MAX_QUEUED_PHOTOS;
  }

  async analyze(image: Buffer): Promise<FaceAnalysis> {
    this.assertOpen();
    // sharp decodes on libuv's thread pool, so decoding does not block the event loop either.
    const metadata = await sharp(image).metadata();
    const { data, info } = await sharp(image)
      .resize({ width: ANALYSIS_MAX_SIDE, height: ANALYSIS_MAX_SIDE, fit: 'inside', withoutEnlargement: true })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    // A copy the pool owns, so its memory can be transferred to the worker.
    const pixels = new Uint8Array(data).buffer;

    const analysis = await this.enqueue({ taskId: this.nextTaskId++, pixels, width: info.width, height: info.height });
    return scaleToOriginal(analysis, metadata.width ?? info.width, metadata.height ?? info.height);
  }

  /** Stops every thread. Photos still waiting or being analysed fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0)) {
      task.reject(new Error('The face analysis pool was closed before this photo was analysed'));
    }
    await Promise.all([...this.workers].map((entry) => entry.worker.terminate()));
    this.workers.clear();
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new Error('The face analysis pool is closed');
    }
  }

  // NOTE: a photo has no time limit once a thread has it. A thread stuck inside the models would hold
  // its photo (and the upload request) until the process stops.
  private enqueue(request: WorkerRequest): Promise<FaceAnalysis> {
    this.assertOpen();
    if (this.queue.length >= this.maxQueuedPhotos) {
      throw appError('service_unavailable', 'Too many photos are being checked right now. Retry the upload in a few seconds.', {
        headers: { 'Retry-After': '5' },
      });
    }
    return new Promise<FaceAnalysis>((resolve, reject) => {
      this.queue.push({ id: request.taskId, request, resolve, reject });
      this.dispatch();
    });
  }

  /** Hands waiting photos to idle threads, and starts threads while photos outnumber them. */
  private dispatch(): void {
    for (const entry of this.workers) {
      if (this.queue.length === 0) {
        return;
      }
      if (entry.ready && entry.task === null) {
        const task = this.queue.shift()!;
        entry.task = task;
        entry.worker.ref();
        entry.worker.postMessage(task.request, [task.request.pixels]);
      }
    }
    const starting = [...this.workers].filter((entry) => !entry.ready).length;
    let missing = Math.min(this.queue.length - starting, this.options.threads - this.workers.size);
    for (; missing > 0; missing -= 1) {
      this.startWorker();
    }
  }

  private startWorker(): void {
    const worker = startAnalysisWorker();
    const entry: PoolWorker = { worker, ready: false, task: null };
    let startupFailure: string | undefined;
    this.workers.add(entry);

    worker.on('message', (reply: WorkerReply) => {
      if (reply.kind === 'ready') {
        entry.ready = true;
        worker.unref();
      } else if (reply.kind === 'failed') {
        startupFailure = reply.message;
      } else if (entry.task !== null && reply.taskId === entry.task.id) {
        const task = entry.task;
        entry.task = null;
        worker.unref();
        if (reply.kind === 'result') {
          task.resolve(reply.analysis);
        } else {
          task.reject(new Error(`Face analysis failed: ${reply.message}`));
        }
      }
      this.dispatch();
    });
    worker.on('error', (error) => {
      startupFailure ??= error.message;
    });
    worker.on('exit', (code) => {
      this.workers.delete(entry);
      if (this.closed) {
        entry.task?.reject(new Error('The face analysis pool was closed while this photo was being analysed'));
        return;
      }
      const reason = startupFailure ?? `exit code ${code}`;
      entry.task?.reject(new Error(`A face analysis thread stopped (${reason})`));
      if (!entry.ready) {
        // The models could not be loaded: starting another thread would fail the same way, so the
        // waiting photos fail now and the next photo tries again.
        for (const task of this.queue.splice(0)) {
          task.reject(new Error(`Face analysis could not start (${reason})`));
        }
      }
      this.dispatch();
    });
  }
}

function startAnalysisWorker(): Worker {
  // In the build this module and the worker are .js; run from source under tsx (tests, scripts) both are .ts.
  const extension = path.extname(fileURLToPath(import.meta.url));
  const workerUrl = new URL(`./face-analysis-worker${extension}`, import.meta.url);
  if (extension !== '.ts') {
    return new Worker(workerUrl);
  }
  // Node.js 20 does not apply `--import tsx` to worker threads, so the worker registers tsx itself.
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(workerUrl.href)}); })`;
  return new Worker(bootstrap, { eval: true });
}

/** Maps face boxes from the reduced analysis image back to pixels of the photo as given. */
function scaleToOriginal(analysis: FaceAnalysis, width: number, height: number): FaceAnalysis {
  if (width === analysis.width && height === analysis.height) {
    return analysis;
  }
  const scaleX = width / analysis.width;
  const scaleY = height / analysis.height;
  return {
    ...analysis,
    width,
    height,
    faces: analysis.faces.map((face) => ({
      ...face,
      box: {
        x: Math.round(face.box.x * scaleX),
        y: Math.round(face.box.y * scaleY),
        width: Math.round(face.box.width * scaleX),
        height: Math.round(face.box.height * scaleY),
      },
    })),
  };
}
