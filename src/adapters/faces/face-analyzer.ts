import type { FaceBox } from '../engines/generation-engine.js';

/** A face that both detectors found. */
export interface DetectedFace {
  /** In pixels of the analysed image, clipped to its frame. */
  box: FaceBox;
  /** Confidence of the main detector (SSD MobileNet v1), 0 to 1. */
  score: number;
  /** Sharpness of the face region, see `sharpness` in image-measures.ts. */
  sharpness: number;
}

/** Measurements of one photo by the face models and pixel measures. Plain data, so it can cross threads. */
export interface FaceAnalysis {
  width: number;
  height: number;
  /** Faces confirmed by the second detector, largest first. */
  faces: DetectedFace[];
  /** Faces the main detector reported but the second detector did not confirm (a cat, a pattern). */
  unconfirmedFaceCount: number;
  /** 128-number face descriptor of the only face; null unless exactly one face was found. */
  faceDescriptor: number[] | null;
  /** Sharpness of the whole photo, for when no face was found. */
  imageSharpness: number;
  /** 64-bit perceptual hash as 16 hex digits, and the hash of the photo flipped left to right. */
  perceptualHash: string;
  mirroredPerceptualHash: string;
}

/** Runs the face models and pixel measures on an encoded photo (JPEG, PNG, WebP, …). */
export interface FaceAnalyzer {
  analyze(image: Buffer): Promise<FaceAnalysis>;
  close(): Promise<void>;
}
