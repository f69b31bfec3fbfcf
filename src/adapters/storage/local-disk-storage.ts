import { randomUUID } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { access, mkdir, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileLinkSigner } from './file-links.js';
import { removeFilesOlderThan } from './stale-files.js';
import { InvalidStorageKeyError, isValidStorageKey, type ObjectStorage, StorageNotFoundError } from './object-storage.js';

/** Content types by key extension. The local disk keeps no metadata beside the bytes, so the name carries the type. */
const CONTENT_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.json': 'application/json',
};
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** Directory under the root for files being written. Keys cannot start with a dot, so no key reaches it. */
const TEMPORARY_DIRECTORY = '.tmp';

/**
 * Keeps objects as plain files under `root`, one file per key. Writes go to a temporary file that is
 * synced and then renamed into place, so a reader sees the old object or the whole new one, never a part.
 *
 * The content type comes from the key's extension: `.jpg`, `.png`, `.webp` and `.json` map to their types,
 * anything else is `application/octet-stream`. `put` rejects a content type that does not match.
 */
export class LocalDiskStorage implements ObjectStorage {
  readonly root: string;
  private readonly temporaryDirectory: string;

  constructor(
    root: string,
    private readonly links: FileLinkSigner,
  ) {
    this.root = path.resolve(root);
    this.temporaryDirectory = path.join(this.root, TEMPORARY_DIRECTORY);
  }

  async put(key: string, body: Buffer | Readable, contentType: string): Promise<{ bytes: number }> {
    const target = this.pathOf(key);
    const expectedType = contentTypeOf(key);
    if (contentType !== expectedType) {
      throw new Error(`LocalDiskStorage derives the content type from the key's extension: ${key} is stored as ${expectedType}, not ${contentType}`);
    }

    await mkdir(this.temporaryDirectory, { recursive: true });
    await mkdir(path.dirname(target), { recursive: true });
    const temporary = path.join(this.temporaryDirectory, `${randomUUID()}.part`);
    try {
      if (Buffer.isBuffer(body)) {
        await writeFile(temporary, body, { flag: 'wx' });
      } else {
        await pipeline(body, createWriteStream(temporary, { flags: 'wx' }));
      }
      const bytes = await syncFile(temporary);
      await rename(temporary, target);
      return { bytes };
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async get(key: string): Promise<{ body: Readable; contentType: string; bytes: number }> {
    const file = this.pathOf(key);
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (isMissingFileError(error)) {
        throw new StorageNotFoundError(key);
      }
      throw error;
    }
    // Stat the open handle, not the path, so a concurrent replace cannot mix two objects' sizes and bytes.
    const stats = await handle.stat();
    if (!stats.isFile()) {
      await handle.close();
      throw new StorageNotFoundError(key);
    }
    return { body: handle.createReadStream(), contentType: contentTypeOf(key), bytes: stats.size };
  }

  async delete(keys: string[]): Promise<void> {
    const files = keys.map((key) => this.pathOf(key));
    await Promise.all(files.map((file) => rm(file, { force: true })));
  }

  /**
   * Deletes every object whose key starts with `prefix`. The prefix may end inside a segment
   * (`jobs/ab` matches `jobs/abc/…`). An empty prefix is rejected rather than deleting everything.
   */
  async deletePrefix(prefix: string): Promise<void> {
    const slash = prefix.lastIndexOf('/');
    const directoryKey = prefix.slice(0, Math.max(0, slash));
    const namePrefix = prefix.slice(slash + 1);
    if (prefix === '' || (directoryKey !== '' && !isValidStorageKey(directoryKey)) || (namePrefix !== '' && !isValidStorageKey(namePrefix))) {
      throw new InvalidStorageKeyError(prefix);
    }

    const directory = directoryKey === '' ? this.root : this.pathOf(directoryKey);
    let names: string[];
    try {
      names = await readdir(directory);
    } catch (error) {
      if (isMissingFileError(error)) {
        return;
      }
      throw error;
    }
    const matches = names.filter((name) => name.startsWith(namePrefix) && !name.startsWith('.'));
    await Promise.all(matches.map((name) => rm(path.join(directory, name), { recursive: true, force: true })));
  }

  async signedUrl(key: string, expiresInSeconds: number): Promise<string> {
    this.pathOf(key);
    return this.links.url(key, expiresInSeconds);
  }

  /** Creates the root when missing and checks that this process can read and write it. */
  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, constants.R_OK | constants.W_OK);
  }

  /** Deletes files left in the temporary directory by a process that stopped mid-write. */
  async removeStaleTemporaryFiles(olderThanMs: number, now: number): Promise<number> {
    return removeFilesOlderThan(this.temporaryDirectory, olderThanMs, now);
  }

  /** Maps a key to its file; throws `InvalidStorageKeyError` for keys that could leave the root. */
  private pathOf(key: string): string {
    if (!isValidStorageKey(key)) {
      throw new InvalidStorageKeyError(key);
    }
    const file = path.resolve(this.root, key);
    // The key rules already rule out escapes; this check keeps that true if the rules ever change.
    if (!file.startsWith(this.root + path.sep)) {
      throw new InvalidStorageKeyError(key);
    }
    return file;
  }
}

export function contentTypeOf(key: string): string {
  return CONTENT_TYPES[path.extname(key).toLowerCase()] ?? DEFAULT_CONTENT_TYPE;
}

/** Flushes a written file to the disk and returns its size, so the rename never publishes lost data. */
async function syncFile(file: string): Promise<number> {
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
    return (await handle.stat()).size;
  } finally {
    await handle.close();
  }
}

function isMissingFileError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
