import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface DecodedImage {
  width: number;
  height: number;
  /** RGBA pixels, 8 bits per channel, rows top to bottom. */
  data: Buffer;
}

const HEIC_DECODE_MODULE = createRequire(import.meta.url).resolve('heic-decode');

// The worker runs heic-decode (libheif compiled to WebAssembly), which decodes synchronously: on the main
// thread a 12-megapixel photo would stop the event loop for seconds. A worker per photo also returns the
// WebAssembly memory to the system when it exits, because that memory never shrinks while a module lives.
// The source is inline CommonJS so the same code runs from `src/` under tsx and from the built `dist/`.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const decode = require(workerData.modulePath);
decode({ buffer: workerData.input }).then(
  (image) => parentPort.postMessage({ width: image.width, height: image.height, data: image.data }, [image.data.buffer]),
  (error) => parentPort.postMessage({ error: String((error && error.message) || error) }),
);
`;

type WorkerMessage = { width: number; height: number; data: Uint8ClampedArray } | { error: string };

/**
 * Decodes the primary image of a HEIC/HEIF file to RGBA pixels in a worker thread. libheif applies the
 * file's rotation and mirroring (`irot`, `imir`) while decoding, so the pixels come out upright. Rejects
 * when the file cannot be decoded.
 *
 * NOTE: the memory of decoding a large HEIC is not measured, because no HEIC encoder is available to make
 * test photos. The pixels alone take 4 bytes each, 48 MB at 12 megapixels, in the worker and again here.
 */
export async function decodeHeic(input: Buffer): Promise<DecodedImage> {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { input, modulePath: HEIC_DECODE_MODULE },
    // libheif prints its own diagnostics to stdout; they are dropped here and the error message is kept.
    stdout: true,
    stderr: true,
  });
  worker.stdout.resume();
  worker.stderr.resume();

  try {
    const message = await new Promise<WorkerMessage>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`The HEIC decoder stopped with exit code ${code} before it sent a result`)));
    });
    if ('error' in message) {
      throw new Error(`HEIC decoding failed: ${message.error}`);
    }
    const data = Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
    return { width: message.width, height: message.height, data };
  } finally {
    await worker.terminate();
  }
}
