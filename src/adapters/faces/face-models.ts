import { createRequire } from 'node:module';
import path from 'node:path';
// The Node.js WASM build of face-api: it loads TensorFlow.js from `@tensorflow/tfjs` and the WASM backend
// from `@tensorflow/tfjs-backend-wasm` (both 4.22.0, the versions face-api 1.7.15 was built against).
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import * as tfjs from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { FaceBox } from '../engines/generation-engine.js';
import type { DetectedFace, FaceAnalysis } from './face-analyzer.js';
import { type GrayImage, perceptualHashes, resampleRegion, sharpness, toGrayscale } from './image-measures.js';

/** Raw pixels handed to a worker: interleaved RGB bytes. */
export interface RgbImage {
  pixels: Uint8Array;
  width: number;
  height: number;
}

/** Minimum SSD MobileNet v1 confidence for a face candidate; 0.5 is face-api's own default. */
const MIN_DETECTION_CONFIDENCE = 0.5;
/**
 * The second detector (Tiny Face Detector) looks at a crop around each candidate, widened by half the
 * face box on every side, scaled to 224 pixels. It confirms the candidate when it finds a face there with
 * at least this confidence. Measured on the test photos: people's faces 0.45 to 0.95, the cat nothing.
 */
const CONFIRMATION_MARGIN = 0.5;
const CONFIRMATION_INPUT_SIZE = 224;
const MIN_CONFIRMATION_CONFIDENCE = 0.3;
/** Face regions are measured at this size, so sharpness does not depend on how large the face is. */
const FACE_SHARPNESS_SIDE = 96;
/** The whole photo is measured with its longer side at this size. */
const IMAGE_SHARPNESS_SIDE = 512;

let modelsLoaded: Promise<void> | undefined;

/**
 * Selects the WASM backend and loads the three models from the files inside the face-api package,
 * once per thread. Nothing is fetched over the network: the `.wasm` binaries are read from the
 * `@tensorflow/tfjs-backend-wasm` package directory.
 */
export function loadFaceModels(): Promise<void> {
  modelsLoaded ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmDirectory = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), path.sep);
    const modelDirectory = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');

    setWasmPaths(wasmDirectory);
    await tfjs.setBackend('wasm');
    await tfjs.ready();
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDirectory);
    await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDirectory);
    await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDirectory);
    await faceapi.nets.faceRecognitionNet.loadFromDisk(modelDirectory);
  })();
  return modelsLoaded;
}

/** Finds the faces in `image` and measures sharpness and perceptual hashes. Call `loadFaceModels` first. */
export async function analyzeRgbImage(image: RgbImage): Promise<FaceAnalysis> {
  const gray = toGrayscale(image.pixels, image.width, image.height);
  const tensor = faceapi.tf.tensor3d(image.pixels, [image.height, image.width, 3], 'int32');
  try {
    const candidates = await faceapi.detectAllFaces(tensor, new faceapi.SsdMobilenetv1Options({ minConfidence: MIN_DETECTION_CONFIDENCE }));
    const confirmed: faceapi.FaceDetection[] = [];
    for (const candidate of candidates) {
      if (await isConfirmedBySecondDetector(tensor, candidate)) {
        confirmed.push(candidate);
      }
    }
    confirmed.sort((a, b) => b.box.area - a.box.area);

    const faces = confirmed.map((detection): DetectedFace => {
      const box = clipToFrame(detection.box, image.width, image.height);
      return { box, score: detection.score, sharpness: regionSharpness(gray, box) };
    });
    const faceDescriptor = confirmed.length === 1 ? await describeFace(tensor, confirmed[0]!) : null;
    const hashes = perceptualHashes(gray);

    return {
      width: image.width,
      height: image.height,
      faces,
      unconfirmedFaceCount: candidates.length - confirmed.length,
      faceDescriptor,
      imageSharpness: wholeImageSharpness(gray),
      perceptualHash: hashes.hash,
      mirroredPerceptualHash: hashes.mirrored,
    };
  } finally {
    tensor.dispose();
  }
}

/**
 * SSD MobileNet v1 reports some animal faces (the cat in the test photos, at 0.93) as human faces. The
 * Tiny Face Detector is a different network trained on its own data, and does not, so a candidate counts
 * only when it also finds a face in the candidate's neighbourhood.
 */
async function isConfirmedBySecondDetector(tensor: faceapi.tf.Tensor3D, candidate: faceapi.FaceDetection): Promise<boolean> {
  const [height, width] = tensor.shape;
  const box = candidate.box;
  const left = Math.max(0, Math.floor(box.x - CONFIRMATION_MARGIN * box.width));
  const top = Math.max(0, Math.floor(box.y - CONFIRMATION_MARGIN * box.height));
  const right = Math.min(width, Math.ceil(box.x + box.width * (1 + CONFIRMATION_MARGIN)));
  const bottom = Math.min(height, Math.ceil(box.y + box.height * (1 + CONFIRMATION_MARGIN)));
  if (right - left < 2 || bottom - top < 2) {
    return false;
  }

  const crop = faceapi.tf.slice(tensor, [top, left, 0], [bottom - top, right - left, 3]);
  try {
    const options = new faceapi.TinyFaceDetectorOptions({
      inputSize: CONFIRMATION_INPUT_SIZE,
      scoreThreshold: MIN_CONFIRMATION_CONFIDENCE,
    });
    const found = await faceapi.detectAllFaces(crop, options);
    return found.length > 0;
  } finally {
    crop.dispose();
  }
}

/** Runs the 68-point landmark model and the recognition model on one detected face, as face-api's own
 * `detectSingleFace(…).withFaceLandmarks().withFaceDescriptor()` does, without detecting again. */
async function describeFace(tensor: faceapi.tf.Tensor3D, detection: faceapi.FaceDetection): Promise<number[] | null> {
  const task = new faceapi.DetectSingleFaceLandmarksTask(Promise.resolve({ detection }), tensor, false).withFaceDescriptor();
  const result = await task;
  return result ? Array.from(result.descriptor) : null;
}

function clipToFrame(box: faceapi.Box, width: number, height: number): FaceBox {
  const left = Math.max(0, Math.round(box.x));
  const top = Math.max(0, Math.round(box.y));
  const right = Math.min(width, Math.round(box.x + box.width));
  const bottom = Math.min(height, Math.round(box.y + box.height));
  return { x: left, y: top, width: Math.max(0, right - left), height: Math.max(0, bottom - top) };
}

function regionSharpness(gray: GrayImage, box: FaceBox): number {
  if (box.width < 1 || box.height < 1) {
    return 0;
  }
  return sharpness(resampleRegion(gray, box, FACE_SHARPNESS_SIDE, FACE_SHARPNESS_SIDE));
}

function wholeImageSharpness(gray: GrayImage): number {
  const scale = IMAGE_SHARPNESS_SIDE / Math.max(gray.width, gray.height);
  const width = Math.max(1, Math.round(gray.width * scale));
  const height = Math.max(1, Math.round(gray.height * scale));
  return sharpness(resampleRegion(gray, { x: 0, y: 0, width: gray.width, height: gray.height }, width, height));
}
