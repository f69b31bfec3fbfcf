import type { Readable } from 'node:stream';

/**
 * Where photos and generated images are kept. The default keeps files under the data directory; an
 * S3-compatible implementation serves deployments with several hosts.
 *
 * Keys are paths made by the server (such as `jobs/<jobId>/photos/<photoId>.jpg`), never from client
 * input. Nothing in storage is public: clients get time-limited links from `signedUrl`.
 */
export interface ObjectStorage {
  /**
   * Stores a whole object under `key`, replacing any object there. A reader never sees a partly written
   * object, and a failed write leaves nothing behind.
   */
  put(key: string, body: Buffer | Readable, contentType: string): Promise<{ bytes: number }>;

  /** Opens an object for reading. Throws `StorageNotFoundError` when there is none. */
  get(key: string): Promise<{ body: Readable; contentType: string; bytes: number }>;

  /** Deletes the objects; keys that do not exist are ignored. */
  delete(keys: string[]): Promise<void>;

  /** Deletes every object whose key starts with `prefix`. */
  deletePrefix(prefix: string): Promise<void>;

  /** A URL that lets anyone holding it GET the object until `expiresInSeconds` have passed. */
  signedUrl(key: string, expiresInSeconds: number): Promise<string>;

  /** Rejects when the store cannot be reached; used by `/readyz`. */
  ping(): Promise<void>;
}

export class StorageNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`No stored object at ${key}`);
    this.name = 'StorageNotFoundError';
  }
}
