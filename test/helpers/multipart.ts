import { randomBytes } from 'node:crypto';

export type FormPart =
  | { name: string; value: string }
  | { name: string; filename?: string; contentType?: string; data: Buffer };

export interface MultipartBody {
  body: Buffer;
  headers: { 'content-type': string };
}

/** Builds a multipart/form-data body with the parts in the given order, as a browser or curl would. */
export function multipartBody(parts: FormPart[]): MultipartBody {
  const boundary = `----envision-test-${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let disposition = `form-data; name="${part.name}"`;
    let type = '';
    let data: Buffer;
    if ('value' in part) {
      data = Buffer.from(part.value);
    } else {
      if (part.filename !== undefined) {
        disposition += `; filename="${part.filename}"`;
      }
      type = `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n`;
      data = part.data;
    }
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`), data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}
