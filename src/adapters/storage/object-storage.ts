import type { Readable } from 'node:stream';

/**
 * Storage for photos and generated images. The default keeps files under the data directory; an
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

// A key is one or more `/`-separated segments of letters, digits, `_`, `-` and `.`, where no segment starts
// with a dot. That rules out `.`, `..`, hidden names, empty segments and absolute paths on every backend.
const KEY_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;
const MAX_KEY_LENGTH = 1024;

/** True when `key` is safe to use as an object key on every backend and as a relative file path. */
export function isValidStorageKey(key: string): boolean {
  return key.length > 0 && key.length <= MAX_KEY_LENGTH && key.split('/').every((segment) => KEY_SEGMENT.test(segment));
}

/**
 * True when `prefix` can select keys for `deletePrefix`: not empty, and valid up to its last `/` and after
 * it, so a prefix may end in `/` or inside a segment (`jobs/ab` matches `jobs/abc/…`).
 */
export function isValidStorageKeyPrefix(prefix: string): boolean {
  const slash = prefix.lastIndexOf('/');
  const directoryKey = prefix.slice(0, Math.max(0, slash));
  const namePrefix = prefix.slice(slash + 1);
  return prefix !== '' && (directoryKey === '' || isValidStorageKey(directoryKey)) && (namePrefix === '' || isValidStorageKey(namePrefix));
}

/** Thrown by storage methods for a key that `isValidStorageKey` rejects. */
export class InvalidStorageKeyError extends Error {
  constructor(readonly key: string) {
    super(`Invalid storage key ${JSON.stringify(key)}: use "/"-separated segments of letters, digits, "_", "-" and "." that do not start with a dot`);
    this.name = 'InvalidStorageKeyError';
  }
}

export class StorageNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`No stored object at ${key}`);
    this.name = 'StorageNotFoundError';
  }
}
