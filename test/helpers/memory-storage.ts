import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { type ObjectStorage, StorageNotFoundError } from '../../src/adapters/storage/object-storage.js';

/** An ObjectStorage kept in memory, for tests. Signed URLs use a `memory:` scheme that nothing serves. */
export class MemoryStorage implements ObjectStorage {
  readonly objects = new Map<string, { data: Buffer; contentType: string }>();
  puts = 0;

  async put(key: string, body: Buffer | Readable, contentType: string): Promise<{ bytes: number }> {
    const data = Buffer.isBuffer(body) ? body : await readAll(body);
    this.objects.set(key, { data, contentType });
    this.puts += 1;
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
    return `memory:${key}?expires_in=${expiresInSeconds}`;
  }

  async ping(): Promise<void> {}

  keysUnder(prefix: string): string[] {
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
  }
}
