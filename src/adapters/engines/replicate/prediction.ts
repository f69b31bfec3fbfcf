import { classifyProviderFailure, truncate, USER_MESSAGES } from '../remote/failures.js';

/** The fields of a Replicate prediction this server reads, from the API or a webhook body. */
export interface Prediction {
  id: string;
  /** `starting`, `processing`, `succeeded`, `failed`, `canceled` or `aborted`. */
  status: string;
  output?: unknown;
  error?: unknown;
  created_at?: string;
  started_at?: string | null;
  completed_at?: string | null;
  metrics?: { predict_time?: number };
}

export const FINAL_STATUSES = new Set(['succeeded', 'failed', 'canceled', 'aborted']);

/** Error text stored for a prediction that succeeded without outputs, mapped back to its user message. */
export const NO_OUTPUT_ERROR = 'the prediction succeeded without output images';
export const OUTPUTS_EXPIRED_ERROR = "the prediction's outputs expired before they could be copied";

export class InvalidPredictionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidPredictionError';
  }
}

/** Checks that `value` has a prediction's id and status; throws an InvalidPredictionError when it does not. */
export function parsePrediction(value: unknown): Prediction {
  const candidate = value as Partial<Prediction> | null;
  if (candidate === null || typeof candidate !== 'object' || typeof candidate.id !== 'string' || typeof candidate.status !== 'string') {
    throw new InvalidPredictionError('it needs string "id" and "status" fields');
  }
  return candidate as Prediction;
}

/** Parses a webhook body into a prediction; throws an InvalidPredictionError when it is not one. */
export function parsePredictionJson(body: Buffer): Prediction {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new InvalidPredictionError(`it is not valid JSON (${(error as Error).message})`);
  }
  return parsePrediction(value);
}

/**
 * Lists the output file URLs in the order the model returned them. Image models return one URL or an
 * array of URLs; some return an object, whose URL values are taken in key order. Only `https:`,
 * `http:` and `data:` URLs count.
 */
export function outputUrls(output: unknown): string[] {
  if (typeof output === 'string') {
    return /^(https?:|data:)/.test(output) ? [output] : [];
  }
  if (Array.isArray(output)) {
    return output.flatMap(outputUrls);
  }
  if (output !== null && typeof output === 'object') {
    return Object.values(output).flatMap(outputUrls);
  }
  return [];
}

export function parseTime(value: string | null | undefined): number | null {
  if (typeof value !== 'string') {
    return null;
  }
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : time;
}

/**
 * Classifies a failed, canceled or aborted prediction. Safety filters and missing faces are permanent;
 * other model errors (crashes, out of memory, interrupted workers) are retryable, and a prediction
 * cancelled by someone else is retried too.
 */
export function predictionFailure(prediction: Prediction): { error: string; retryable: boolean } {
  if (prediction.status === 'canceled' || prediction.status === 'aborted') {
    return { error: `the prediction was ${prediction.status} at Replicate`, retryable: true };
  }
  const text = typeof prediction.error === 'string' ? prediction.error : JSON.stringify(prediction.error ?? 'unknown error');
  const known = classifyProviderFailure(text);
  return { error: truncate(`the model failed: ${text}`), retryable: known?.retryable ?? true };
}

/** Returns the message a user sees for a failure recorded as `error`. */
export function userMessageFor(error: string, retryable: boolean): string {
  if (error === NO_OUTPUT_ERROR) {
    return USER_MESSAGES.noImages;
  }
  return classifyProviderFailure(error)?.userMessage ?? (retryable ? USER_MESSAGES.unavailable : USER_MESSAGES.generic);
}

/** Splits `owner/name` or `owner/name:version` into what `predictions.create` takes. */
export function parseModelReference(reference: string): ModelReference {
  const match = /^([\w.-]+\/[\w.-]+)(?::([0-9a-f]{64}))?$/.exec(reference);
  if (match === null) {
    throw new Error(`"${reference}" is not a model reference like owner/name or owner/name:<64-hex version id>`);
  }
  return match[2] === undefined ? { model: match[1]! } : { version: match[2] };
}

export type ModelReference = { model: string } | { version: string };
