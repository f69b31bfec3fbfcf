// Entry point of a face analysis worker thread. It loads the models once, reports `ready`, then analyses
// one photo per message until the pool terminates it. Messages are defined in face-analysis-pool.ts.
import { parentPort } from 'node:worker_threads';
import { analyzeRgbImage, loadFaceModels } from './face-models.js';
import type { WorkerReply, WorkerRequest } from './face-analysis-pool.js';

const port = parentPort;
if (port === null) {
  throw new Error('face-analysis-worker.ts must run in a worker thread');
}

try {
  await loadFaceModels();
  port.postMessage({ kind: 'ready' } satisfies WorkerReply);
} catch (error) {
  port.postMessage({ kind: 'failed', message: `Loading the face models failed: ${(error as Error).message}` } satisfies WorkerReply);
  process.exit(1);
}

port.on('message', async (request: WorkerRequest) => {
  try {
    const analysis = await analyzeRgbImage({
      pixels: new Uint8Array(request.pixels),
      width: request.width,
      height: request.height,
    });
    port.postMessage({ kind: 'result', taskId: request.taskId, analysis } satisfies WorkerReply);
  } catch (error) {
    port.postMessage({ kind: 'error', taskId: request.taskId, message: (error as Error).message } satisfies WorkerReply);
  }
});
