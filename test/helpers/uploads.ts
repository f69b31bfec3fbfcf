import path from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import type { PhotoInspection, PhotoQualityGate, PhotoRejection } from '../../src/domain/photos/quality-gate.js';
import type { TestContext } from './app.js';
import { listFiles } from './files.js';
import { type FormPart, multipartBody } from './multipart.js';
import type { TestUser } from './users.js';

export { listFiles };

export function storageDirectory(context: TestContext): string {
  return path.join(context.config.dataDir, 'storage');
}

/** Files in upload spools and in storage's directory for unfinished writes. Both must be empty between requests. */
export function temporaryFiles(context: TestContext): string[] {
  return [...listFiles(context.container.uploadTemporaryDirectory), ...listFiles(path.join(storageDirectory(context), '.tmp'))];
}

export async function openJob(context: TestContext, user: TestUser): Promise<string> {
  const response = await context.app.inject({ method: 'GET', url: '/initalize-job', headers: user.authorization });
  if (response.statusCode !== 200) {
    throw new Error(`/initalize-job answered ${response.statusCode}: ${response.body}`);
  }
  return (response.json() as { jobId: string }).jobId;
}

/** Sends POST /upload with the parts in the given order. */
export async function upload(context: TestContext, user: TestUser | undefined, parts: FormPart[]): Promise<LightMyRequestResponse> {
  const form = multipartBody(parts);
  return context.app.inject({
    method: 'POST',
    url: '/upload',
    headers: { ...user?.authorization, ...form.headers },
    payload: form.body,
  });
}

/** POST /upload of one image file for `jobId`, jobId first. */
export async function uploadImage(context: TestContext, user: TestUser, jobId: string, image: Buffer, filename = 'photo.jpg') {
  return upload(context, user, [
    { name: 'jobId', value: jobId },
    { name: 'image', filename, contentType: 'image/jpeg', data: image },
  ]);
}

/** Reads what the database and the data directory contain for a job. */
export async function jobState(context: TestContext, jobId: string) {
  const db = context.container.database.db;
  const job = await db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
  const photos = await db.selectFrom('photos').selectAll().where('job_id', '=', jobId).execute();
  const files = listFiles(path.join(storageDirectory(context), 'jobs', jobId));
  return { photoCount: job.photo_count, photos, files, temporaryFiles: temporaryFiles(context) };
}

/** Reads a stored object into memory. */
export async function readStored(context: TestContext, key: string): Promise<Buffer> {
  const object = await context.container.storage.get(key);
  const chunks: Buffer[] = [];
  for await (const chunk of object.body) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

type InspectInput = Parameters<PhotoQualityGate['inspect']>[0];

export const ACCEPTED: PhotoInspection = {
  rejections: [],
  faceBox: null,
  faceDescriptor: null,
  perceptualHash: null,
  mirroredPerceptualHash: null,
  skippedChecks: [],
};

/** Quality gate whose result each test sets. It records every input it receives. */
export class FakeQualityGate implements PhotoQualityGate {
  readonly inputs: InspectInput[] = [];
  result: (input: InspectInput) => Promise<PhotoInspection> = async () => ACCEPTED;

  async inspect(input: InspectInput): Promise<PhotoInspection> {
    this.inputs.push(input);
    return this.result(input);
  }

  /** Finds no conflicts: what `result` returns is the whole verdict. */
  compareWithJobPhotos(): PhotoRejection[] {
    return [];
  }

  async close(): Promise<void> {}

  reset(): void {
    this.inputs.length = 0;
    this.result = async () => ACCEPTED;
  }
}
