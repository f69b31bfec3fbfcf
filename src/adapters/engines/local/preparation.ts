import { EngineError } from '../generation-engine.js';

/** One photo made ready for rendering: a square JPEG centred on the subject. */
export interface PreparedPortrait {
  photoId: string;
  storageKey: string;
  /** `face` when centred on the photo's face box, `salient` when on the most salient region. */
  subject: 'face' | 'salient';
  /** Size of the subject (the face box's larger side, or a quarter of the photo's short side) as a fraction of the portrait's side. */
  subjectScale: number;
}

/** Result of `LocalEngine.prepare`, handed back to every `render` of the job. */
export interface LocalPreparation {
  version: 1;
  portraits: PreparedPortrait[];
}

/**
 * Checks that `render` got back what `prepare` returned. Anything else (another engine's preparation, a
 * hand-edited row) is a non-retryable EngineError, because rendering again cannot repair it.
 */
export function parsePreparation(value: unknown): LocalPreparation {
  const invalid = (reason: string) =>
    new EngineError(`The local engine's preparation is invalid: ${reason}`, false, 'The photos prepared for this job are unusable. Start the pack again.');
  if (typeof value !== 'object' || value === null || (value as { version?: unknown }).version !== 1) {
    throw invalid('expected an object with version 1');
  }
  const portraits = (value as { portraits?: unknown }).portraits;
  if (!Array.isArray(portraits) || portraits.length === 0) {
    throw invalid('expected a non-empty portraits array');
  }
  for (const [index, portrait] of portraits.entries()) {
    const candidate = portrait as Partial<PreparedPortrait> | null;
    const valid =
      typeof candidate === 'object' &&
      candidate !== null &&
      typeof candidate.photoId === 'string' &&
      typeof candidate.storageKey === 'string' &&
      (candidate.subject === 'face' || candidate.subject === 'salient') &&
      typeof candidate.subjectScale === 'number' &&
      candidate.subjectScale > 0 &&
      candidate.subjectScale <= 1;
    if (!valid) {
      throw invalid(`portraits[${index}] needs photoId, storageKey, subject "face" or "salient" and a subjectScale in (0, 1]`);
    }
  }
  return value as LocalPreparation;
}
