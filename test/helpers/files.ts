import { readdirSync } from 'node:fs';
import path from 'node:path';

/** Lists every file under `directory` as a relative path; returns [] when the directory does not exist. */
export function listFiles(directory: string): string[] {
  let entries;
  try {
    entries = readdirSync(directory, { withFileTypes: true, recursive: true });
  } catch {
    return [];
  }
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(directory, path.join(entry.parentPath, entry.name)));
}
