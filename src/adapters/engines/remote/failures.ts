import { EngineError } from '../generation-engine.js';

/** Messages a user may read when a task ends, one per kind of permanent failure. */
export const USER_MESSAGES = {
  generic: 'The image generator could not render this prompt.',
  rejectedInput: 'The image generator rejected this request. Try other photos or another pack.',
  safetyFilter: "The image generator's safety filter blocked this image. Try other photos or another pack.",
  noFace: 'The image generator could not find a face in your photos. Upload clear photos of your face.',
  noImages: 'The image generator returned no images for this prompt.',
  unavailable: 'The image generator is busy or unavailable. We will try again.',
} as const;

export function retryableError(message: string, cause?: unknown): EngineError {
  return new EngineError(message, true, USER_MESSAGES.unavailable, cause === undefined ? undefined : { cause });
}

export function permanentError(message: string, userMessage: string | undefined = USER_MESSAGES.generic): EngineError {
  return new EngineError(message, false, userMessage ?? USER_MESSAGES.generic);
}

/** Builds the error a render throws when its signal aborts. The caller aborted, so it decides what happens next. */
export function abortedError(signal: AbortSignal): EngineError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
  return new EngineError(`The render was aborted (${reason})`, true, USER_MESSAGES.unavailable);
}

const SAFETY_PATTERN = /nsfw|safety|sensitive|flagged|E005\b/i;
const NO_FACE_PATTERN = /no face|face (was )?not (found|detected)|could not (find|detect) (a |any )?face/i;

/**
 * Picks the user message for a provider's failure text. Safety filters and missing faces are permanent:
 * the same photos and prompt fail the same way on every retry.
 */
export function classifyProviderFailure(text: string): { retryable: boolean; userMessage: string } | undefined {
  if (SAFETY_PATTERN.test(text)) {
    return { retryable: false, userMessage: USER_MESSAGES.safetyFilter };
  }
  if (NO_FACE_PATTERN.test(text)) {
    return { retryable: false, userMessage: USER_MESSAGES.noFace };
  }
  return undefined;
}

/**
 * Maps an HTTP status from a provider to an EngineError. Timeouts (408), early data (425), rate limits
 * (429) and server errors (5xx) are retryable; other 4xx mean the provider rejected what we sent.
 */
export function httpStatusError(what: string, status: number, detail: string): EngineError {
  const message = `${what} failed with HTTP ${status}${detail === '' ? '' : `: ${detail}`}`;
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    return retryableError(message);
  }
  const known = classifyProviderFailure(detail);
  return permanentError(message, known?.userMessage ?? USER_MESSAGES.rejectedInput);
}

/**
 * Turns anything a provider call threw into an EngineError. Errors that are not EngineErrors are network
 * failures (refused or reset connections, request timeouts), so they are retryable.
 */
export function toEngineError(what: string, error: unknown): EngineError {
  if (error instanceof EngineError) {
    return error;
  }
  const text = error instanceof Error ? describeNetworkError(error) : String(error);
  return retryableError(`${what} failed: ${text}`, error);
}

function describeNetworkError(error: Error): string {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  if (error.name === 'TimeoutError') {
    return 'the request timed out';
  }
  if (cause !== undefined && typeof cause.code === 'string') {
    return `${error.message} (${cause.code})`;
  }
  return error.message;
}

/** Shortens provider text for logs and the database: tracebacks and bodies can be very long. */
export function truncate(text: string, maxLength = 500): string {
  return text.length <= maxLength ? text : `${text.slice(0, maxLength)}…`;
}
