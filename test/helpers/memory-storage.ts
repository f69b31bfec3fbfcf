import { Readable } from 'node:stream';
import { buffer as readStream } from 'node:stream/consumers';
import { type ObjectStorage, StorageNotFoundError } from '../../src/adapters/storage/object-storage.js';

/** ObjectStorage kept in a Map, for engine tests that need no files on disk. */
export class MemoryStorage implements ObjectStorage {
  readonly objects = new Map<string, { data: Buffer; contentType: string }>();

  async put(key: string, body: Buffer | Readable, contentType: string): Promise<{ bytes: number }> {
    const data = Buffer.isBuffer(body) ? body : await readStream(body);
    this.objects.set(key, { data, contentType });
    return { bytes: data.length };
  }

  async get(key: string): Promise<{ body: Readable; contentType: string; bytes: number }> {
    const object = this.objects.get(key);
    if (object === undefined) {
      throw new StorageNotFoundError(key);
    }
    return { body: Readable.from([object.data]), contentType: object.contentType, bytes: object.data.length };
  }

  async delete(keys: string[]): Promise<void> {
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

  keysUnder(prefix: string): string[] {
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
  }
}
