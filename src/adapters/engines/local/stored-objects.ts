import { StorageNotFoundError, type ObjectStorage } from '../../storage/object-storage.js';
import { EngineError } from '../generation-engine.js';

/** Description of a missing or unreadable object, for error messages. */
export interface ObjectDescription {
  /** Names the object in the log message, such as `photo 1b2c…`. */
  label: string;
  /** Shown to the user when the object is missing. */
  missingUserMessage: string;
}

/**
 * Reads a whole object from storage. A missing object is a non-retryable EngineError, because trying again
 * cannot bring it back. Any other storage failure is retryable. An abort rejects with the signal's reason,
 * which `LocalEngine` turns into its abort error.
 */
export async function readStoredObject(
  storage: ObjectStorage,
  key: string,
  description: ObjectDescription,
  signal: AbortSignal,
): Promise<Buffer> {
  signal.throwIfAborted();
  try {
    const object = await storage.get(key);
    const chunks: Buffer[] = [];
    // Leaving the loop by a throw destroys the stream, so an abort stops the read.
    for await (const chunk of object.body) {
      signal.throwIfAborted();
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    }
    return Buffer.concat(chunks);
  } catch (error) {
    if (signal.aborted) {
      throw signal.reason;
    }
    if (error instanceof StorageNotFoundError) {
      throw new EngineError(`The ${description.label} is missing from storage at ${key}`, false, description.missingUserMessage, {
        cause: error,
      });
    }
    throw new EngineError(`Reading the ${description.label} from storage at ${key} failed: ${messageOf(error)}`, true, undefined, {
      cause: error,
    });
  }
}

/** Stores an object. Storage failures are retryable EngineErrors. */
export async function writeStoredObject(storage: ObjectStorage, key: string, body: Buffer, contentType: string): Promise<void> {
  try {
    await storage.put(key, body, contentType);
  } catch (error) {
    throw new EngineError(`Writing ${key} to storage failed: ${messageOf(error)}`, true, undefined, { cause: error });
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
