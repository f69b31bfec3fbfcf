import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { appError, isAppError } from '../domain/errors.js';

/** The fields of an upload form, with the image written to a temporary file. */
export interface UploadForm {
  jobId: string;
  /** Temporary file with the image's bytes, named by the server. `discard()` deletes it. */
  file: string;
  bytes: number;
  discard(): Promise<void>;
}

export interface UploadFormOptions {
  maxFileBytes: number;
  temporaryDirectory: string;
  /** Called as soon as the jobId part arrives, so a wrong job fails before a following image is read. */
  onJobId?: (jobId: string) => Promise<void>;
}

const IMAGE_FIELD = 'image';
const JOB_ID_FIELD = 'jobId';

/** Busboy limits besides the file size: a jobId, a few unknown fields and one file are all a form needs. */
export const UPLOAD_FORM_LIMITS = {
  fieldNameSize: 100,
  fieldSize: 1024,
  fields: 10,
  files: 1,
  parts: 12,
  headerPairs: 20,
};

/**
 * Reads a `multipart/form-data` upload with a `jobId` field and one `image` file, in either order. The
 * image is streamed to a temporary file as it arrives, so a jobId that follows the image is still read
 * and memory stays flat. On every failure, the client's abort included, the temporary file is deleted
 * before the error is thrown. The client's filename is ignored.
 */
export async function readUploadForm(request: FastifyRequest, options: UploadFormOptions): Promise<UploadForm> {
  if (!request.isMultipart()) {
    throw appError('unsupported_media_type', 'Send the photo as multipart/form-data with the fields jobId and image.');
  }

  const file = path.join(options.temporaryDirectory, `${randomUUID()}.upload`);
  const discard = () => rm(file, { force: true });
  let jobId: string | undefined;
  let bytes: number | undefined;

  try {
    for await (const part of request.parts({ limits: { ...UPLOAD_FORM_LIMITS, fileSize: options.maxFileBytes } })) {
      if (part.type === 'file') {
        if (part.fieldname !== IMAGE_FIELD) {
          part.file.resume();
          throw invalidForm(`The form has a file in the field "${part.fieldname.slice(0, 100)}"; send the photo in the field "image".`);
        }
        bytes = await saveFile(part.file, file, options.maxFileBytes);
      } else if (part.fieldname === JOB_ID_FIELD) {
        if (jobId !== undefined) {
          throw invalidForm('The form has more than one jobId field; send it once.');
        }
        if (part.valueTruncated) {
          throw invalidForm('The jobId field is too long; send the jobId from /initalize-job.');
        }
        jobId = String(part.value).trim();
        await options.onJobId?.(jobId);
      }
      // Other text fields are ignored; UPLOAD_FORM_LIMITS bounds how many a client can send.
    }

    if (jobId === undefined || jobId === '') {
      throw invalidForm('The form has no jobId field; send the jobId from /initalize-job.', JOB_ID_FIELD);
    }
    if (bytes === undefined) {
      throw invalidForm('The form has no image file; send the photo in the field "image".', IMAGE_FIELD);
    }
    return { jobId, file, bytes, discard };
  } catch (error) {
    await discard();
    throw translateMultipartError(error, request, options.maxFileBytes);
  }
}

/** Streams a file part to `target` and returns its size. Stops at once when the part passes the size limit. */
async function saveFile(stream: Readable & { truncated?: boolean }, target: string, maxFileBytes: number): Promise<number> {
  // Busboy only marks an oversized part as truncated and reads on to its end. Destroying the stream here
  // ends the upload at once instead.
  stream.on('limit', () => stream.destroy(fileTooLarge(maxFileBytes)));
  const output = createWriteStream(target, { flags: 'wx' });
  await pipeline(stream, output);
  if (stream.truncated === true) {
    throw fileTooLarge(maxFileBytes);
  }
  return output.bytesWritten;
}

function fileTooLarge(maxFileBytes: number) {
  return appError('file_too_large', `The image is larger than ${formatBytes(maxFileBytes)}, the maximum upload size. Send a smaller photo.`, {
    details: [{ field: IMAGE_FIELD, message: `larger than ${maxFileBytes} bytes` }],
  });
}

function invalidForm(message: string, field?: string) {
  return appError('invalid_request', message, { details: [{ ...(field === undefined ? {} : { field }), message }] });
}

/** Maps @fastify/multipart and busboy errors to catalog errors; anything else passes unchanged. */
function translateMultipartError(error: unknown, request: FastifyRequest, maxFileBytes: number): unknown {
  if (isAppError(error)) {
    return error;
  }
  if (!request.raw.complete && request.raw.destroyed) {
    return invalidForm('The upload ended before the form was complete.');
  }
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return fileTooLarge(maxFileBytes);
    case 'FST_FILES_LIMIT':
      return invalidForm('The form has more than one file; send exactly one photo in the field "image".', IMAGE_FIELD);
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return invalidForm('The form has too many fields; send only jobId and image.');
    case 'FST_PROTO_VIOLATION':
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return invalidForm('The form has a field that is not allowed; send only jobId and image.');
    case 'FST_MP_PREMATURE_CLOSE':
      return invalidForm('The upload ended before the form was complete.');
  }
  // Busboy reports malformed bodies with plain Errors without a code: a missing boundary, a broken part
  // header, an early end.
  if (error instanceof Error && code === undefined && /multipart|boundary|part|unexpected end/i.test(error.message)) {
    return appError('invalid_request', `The multipart/form-data body is malformed: ${error.message}.`, { cause: error });
  }
  return error;
}

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}
