import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { PacksRepository } from '../../src/adapters/database/repositories/packs-repository.js';
import type { Database } from '../../src/adapters/database/schema.js';

/**
 * Adds a pack with `numPrompts` prompts through the packs catalog, which raises the catalog version, so
 * every process (and its cached /packs-info) sees it as it would see an imported catalog file.
 */
export async function insertTestPack(
  db: Kysely<Database>,
  options: { name?: string; numPrompts?: number; numImagesPerPrompt?: number; isActive?: boolean; prompts?: string[]; engine?: string | null } = {},
): Promise<string> {
  const name = options.name ?? `pack_${randomUUID().slice(0, 8)}`;
  const numPrompts = options.numPrompts ?? 2;
  const prompts = options.prompts ?? Array.from({ length: numPrompts }, (_, index) => `test prompt ${index}`);
  await new PacksRepository(db).importCatalog(
    {
      settings: undefined,
      removeOtherPacks: false,
      packs: [
        {
          name,
          displayName: `Display ${name}`,
          isActive: options.isActive !== false,
          featured: false,
          featuredThumbnail: null,
          numImagesPerPrompt: options.numImagesPerPrompt ?? 2,
          numPrompts,
          secondaryThumbnailImages: [],
          thumbnail: '',
          prompts: prompts.map((prompt) => ({ prompt })),
          displayOrder: 0,
          engine: options.engine ?? null,
          extra: {},
        },
      ],
    },
    Date.now(),
  );
  return name;
}

/**
 * Inserts a job with `photoCount` photo rows (their storage keys point nowhere), as /initalize-job and
 * /upload would leave it.
 */
// TODO: create jobs through /initalize-job and /upload once the uploads area lands.
export async function insertTestJob(db: Kysely<Database>, userId: string, options: { photoCount?: number; createdAt?: number } = {}): Promise<string> {
  const jobId = randomUUID();
  const now = options.createdAt ?? Date.now();
  const photoCount = options.photoCount ?? 1;
  await db.insertInto('jobs').values({ id: jobId, user_id: userId, photo_count: photoCount, created_at: now, updated_at: now }).execute();
  for (let index = 0; index < photoCount; index += 1) {
    const photoId = randomUUID();
    await db
      .insertInto('photos')
      .values({
        id: photoId,
        job_id: jobId,
        storage_key: `jobs/${jobId}/photos/${photoId}.jpg`,
        thumbnail_key: `jobs/${jobId}/thumbnails/${photoId}.jpg`,
        content_type: 'image/jpeg',
        width: 512,
        height: 512,
        bytes: 1000,
        perceptual_hash: null,
        face_box: JSON.stringify({ x: 100, y: 100, width: 200, height: 200 }),
        face_descriptor: null,
        created_at: now + index,
      })
      .execute();
  }
  return jobId;
}

export async function insertDeviceToken(db: Kysely<Database>, userId: string, token: string): Promise<void> {
  await db.insertInto('device_tokens').values({ token, user_id: userId, verified: 1, created_at: 0, updated_at: 0 }).execute();
}

/**
 * Polls `check` until it returns a value other than undefined. The limit only stops a broken test from
 * hanging; nothing is asserted about how long the wait took.
 */
export async function waitFor<T>(description: string, check: () => Promise<T | undefined>, limitMs = 60_000): Promise<T> {
  const giveUpAt = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > giveUpAt) {
      throw new Error(`Gave up waiting for ${description}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Entries of a zip made without compression (as /job-archive makes it), read from its central directory. */
export function readStoredZip(zip: Buffer): Map<string, Buffer> {
  const endOfDirectory = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (endOfDirectory < 0) {
    throw new Error('not a zip: no end of central directory record');
  }
  const entryCount = zip.readUInt16LE(endOfDirectory + 10);
  let offset = zip.readUInt32LE(endOfDirectory + 16);
  const entries = new Map<string, Buffer>();
  for (let index = 0; index < entryCount; index += 1) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) {
      throw new Error(`not a zip: bad central directory header at ${offset}`);
    }
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localHeader = zip.readUInt32LE(offset + 42);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    if (method !== 0) {
      throw new Error(`entry ${name} is compressed (method ${method})`);
    }
    const dataStart = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    entries.set(name, zip.subarray(dataStart, dataStart + compressedSize));
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}
