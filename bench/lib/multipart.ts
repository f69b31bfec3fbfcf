import { randomUUID } from 'node:crypto';

/** Builds a multipart/form-data body for POST /upload with the fields `jobId` and `image` (a JPEG). */
export function multipartForm(jobId: string, photo: Buffer): { body: Buffer; contentType: string } {
  const boundary = `bench-${randomUUID()}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="jobId"\r\n\r\n${jobId}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    photo,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}
