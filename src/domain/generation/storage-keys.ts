import { createHash } from 'node:crypto';

const EXTENSIONS: Record<string, string> = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp' };

/**
 * Where a generated image is stored. The key depends only on (job, run, prompt, image), so a retried
 * task overwrites its earlier attempt's files instead of adding new ones.
 */
export function resultStorageKey(jobId: string, runId: string, promptIndex: number, imageIndex: number, contentType: string): string {
  return `${jobPrefix(jobId)}results/${runId}/${promptIndex}-${imageIndex}.${EXTENSIONS[contentType] ?? 'bin'}`;
}

/** The prefix under which every object of a job is stored. */
export function jobPrefix(jobId: string): string {
  return `jobs/${jobId}/`;
}

/** The file name of an image inside a job's zip archive: `neon/neon-01-2.jpg` for prompt 1, image 2. */
export function archiveEntryName(packName: string, promptIndex: number, imageIndex: number, contentType: string): string {
  const prompt = String(promptIndex + 1).padStart(2, '0');
  return `${packName}/${packName}-${prompt}-${imageIndex + 1}.${EXTENSIONS[contentType] ?? 'bin'}`;
}

/**
 * The seed of one prompt of a run: derived from the job, pack and prompt index, so the same inputs
 * render the same images, and a retried task renders what its first attempt would have.
 */
export function taskSeed(jobId: string, packName: string, promptIndex: number): number {
  const digest = createHash('sha256').update(`${jobId}\n${packName}\n${promptIndex}`).digest();
  return digest.readUInt32BE(0) >>> 1;
}
