import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Deletes the plain files directly in `directory` last modified more than `olderThanMs` before `now`,
 * and returns how many it deleted. Younger files are kept: another process may still be writing them.
 */
export async function removeFilesOlderThan(directory: string, olderThanMs: number, now: number): Promise<number> {
  let entries;
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return 0;
    }
    throw error;
  }

  let removed = 0;
  for (const entry of entries.filter((candidate) => candidate.isFile())) {
    const file = path.join(directory, entry.name);
    const stats = await stat(file).catch(() => undefined);
    if (stats !== undefined && now - stats.mtimeMs > olderThanMs) {
      await rm(file, { force: true });
      removed += 1;
    }
  }
  return removed;
}
