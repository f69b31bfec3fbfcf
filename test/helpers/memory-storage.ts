import { Readable } from 'node:stream';
import {
  InvalidStorageKeyError,
  isValidStorageKey,
  type ObjectStorage,
  StorageNotFoundError,
} from '../../src/adapters/storage/object-storage.js';

interface StoredObject {
  body: Buffer;
  contentType: string;
}

/**
 * An ObjectStorage kept in a Map, for unit tests that need storage but not the disk. It rejects the keys
 * the real stores reject. Reads get a copy, so a test cannot change a stored object by accident.
 * `failReads` makes `get` reject, to test how callers handle storage faults.
 */
export class MemoryObjectStorage implements ObjectStorage {
  private readonly objects = new Map<string, StoredObject>();

  /** When set, `get` rejects with this error for every key it returns true for. */
  failReads: { matches: (key: string) => boolean; error: Error } | undefined;

  async put(key: string, body: Buffer | Readable, contentType: string): Promise<{ bytes: number }> {
    checkKey(key);
    const bytes = Buffer.isBuffer(body) ? Buffer.from(body) : await readAll(body);
    this.objects.set(key, { body: bytes, contentType });
    return { bytes: bytes.length };
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
    return { body: Readable.from([Buffer.from(object.body)]), contentType: object.contentType, bytes: object.body.length };
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

  /** Returns a `memory:` URL that names the object and its expiry but cannot be fetched. */
  async signedUrl(key: string, expiresInSeconds: number): Promise<string> {
    return `memory:${encodeURIComponent(key)}?expires_in=${expiresInSeconds}`;
  }

  async ping(): Promise<void> {}

  /** Stored keys in sorted order. */
  keys(): string[] {
    return [...this.objects.keys()].sort();
  }

  /** Returns a stored object's bytes, or undefined. */
  read(key: string): Buffer | undefined {
    const object = this.objects.get(key);
    return object === undefined ? undefined : Buffer.from(object.body);
  }
}

function checkKey(key: string): void {
  if (!isValidStorageKey(key)) {
    throw new InvalidStorageKeyError(key);
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks);
}
