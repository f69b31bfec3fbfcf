import { Readable } from 'node:stream';
import { buffer as readStream } from 'node:stream/consumers';
import {
  InvalidStorageKeyError,
  isValidStorageKey,
  type ObjectStorage,
  StorageNotFoundError,
} from '../../src/adapters/storage/object-storage.js';

/**
 * ObjectStorage kept in a Map, for engine tests that need no files on disk. It rejects the keys the real
 * stores reject. Reads get a copy, so a test cannot change a stored object by accident. `failReads`
 * makes `get` reject, to test how callers handle storage faults.
 */
export class MemoryStorage implements ObjectStorage {
  readonly objects = new Map<string, { data: Buffer; contentType: string }>();

  /** When set, `get` rejects with this error for every key that `matches` accepts. */
  failReads: { matches: (key: string) => boolean; error: Error } | undefined;

  async put(key: string, body: Buffer | Readable, contentType: string): Promise<{ bytes: number }> {
    checkKey(key);
    const data = Buffer.isBuffer(body) ? Buffer.from(body) : await readStream(body);
    this.objects.set(key, { data, contentType });
    return { bytes: data.length };
  }

  async get(key: string): Promise<{ body: Readable; contentType: string; bytes: number }> {
    checkKey(key);
    if (this.failReads?.matches(key) === true) {
      throw this.failReads.error;
    }
    const object = this.objects.get(key);
    if (object === undefined) {
      throw new StorageNotFoundError(key);
    }
    return { body: Readable.from([Buffer.from(object.data)]), contentType: object.contentType, bytes: object.data.length };
  }

  async delete(keys: string[]): Promise<void> {
    keys.forEach(checkKey);
    for (const key of keys) {
      this.objects.delete(key);
    }
  }

  async deletePrefix(prefix: string): Promise<void> {
    for (const key of [...this.objects.keys()]) {
      if (key.startsWith(prefix)) {
        this.objects.delete(key);
      }
    }
  }

  async signedUrl(key: string, expiresInSeconds: number): Promise<string> {
    return `http://127.0.0.1:1/files/${encodeURIComponent(key)}?expires=${expiresInSeconds}`;
  }

  async ping(): Promise<void> {}

  /** Returns the stored keys that start with `prefix`, sorted. */
  keysUnder(prefix: string): string[] {
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  /** Returns a copy of a stored object's bytes, or undefined. */
  read(key: string): Buffer | undefined {
    const object = this.objects.get(key);
    return object === undefined ? undefined : Buffer.from(object.data);
  }
}

function checkKey(key: string): void {
  if (!isValidStorageKey(key)) {
    throw new InvalidStorageKeyError(key);
  }
}
