import assert from 'node:assert/strict';
import type { AddressInfo, Socket } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { fixture } from '../helpers/images.js';
import { openSocket, readResponse, requestHead, waitFor } from '../helpers/raw-http.js';
import { jobState, listFiles, openJob } from '../helpers/uploads.js';
import { createTestUser, type TestUser } from '../helpers/users.js';

const BOUNDARY = 'envision-streaming-test';
const MAX_FILE_BYTES = 1024 * 1024;

function fieldPart(name: string, value: string): Buffer {
  return Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
}

function imagePartHead(): Buffer {
  return Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="selfie.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`);
}

function uploadHead(user: TestUser, contentLength: number): string {
  return requestHead('POST', '/upload', {
    authorization: `Bearer ${user.token}`,
    'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
    'content-length': contentLength,
  });
}

// These tests talk to a listening server through real sockets on 127.0.0.1, because app.inject always
// delivers a whole body and cannot show what happens while one is still arriving or when it stops.
for (const kind of DATABASE_KINDS) {
  describe(`upload streaming on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let user: TestUser;
    let port: number;
    const sockets: Socket[] = [];

    before(async () => {
      context = await createTestContext(kind, { env: { UPLOAD_MAX_FILE_BYTES: String(MAX_FILE_BYTES) } });
      user = await createTestUser(context);
      await context.app.listen({ host: '127.0.0.1', port: 0 });
      port = (context.app.server.address() as AddressInfo).port;
    });
    afterEach(() => {
      sockets.splice(0).forEach((socket) => socket.destroy());
    });
    after(async () => context?.close());

    async function connect(): Promise<Socket> {
      const socket = await openSocket(port);
      sockets.push(socket);
      return socket;
    }

    it('answers 401 before reading the body', async () => {
      const socket = await connect();
      const response = readResponse(socket);

      socket.write(requestHead('POST', '/upload', { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': 5_000_000 }));
      socket.write(imagePartHead());

      const answer = await response;
      assert.equal(answer.statusCode, 401);
      assert.equal(JSON.parse(answer.body).error.code, 'missing_token');
    });

    it('answers 404 for a wrong job before reading the image', async () => {
      const socket = await connect();
      const response = readResponse(socket);

      socket.write(uploadHead(user, 5_000_000));
      socket.write(Buffer.concat([fieldPart('jobId', 'someone-elses-job'), imagePartHead(), fixture('astronaut.jpg').subarray(0, 10_000)]));

      const answer = await response;
      assert.equal(answer.statusCode, 404);
      assert.equal(answer.headers.connection, 'close');
      assert.deepEqual(listFiles(context.container.uploadTemporaryDirectory), []);
    });

    it('stops reading an image over the size limit', async () => {
      const jobId = await openJob(context, user);
      const socket = await connect();
      const response = readResponse(socket);

      socket.write(uploadHead(user, 10 * MAX_FILE_BYTES));
      socket.write(Buffer.concat([fieldPart('jobId', jobId), imagePartHead()]));
      // A little more than the limit, and far less than the declared length: the response must not wait for the rest.
      socket.write(Buffer.alloc(MAX_FILE_BYTES + 64 * 1024, 1));

      const answer = await response;
      assert.equal(answer.statusCode, 413);
      assert.equal(JSON.parse(answer.body).error.code, 'file_too_large');
      await waitFor(() => listFiles(context.container.uploadTemporaryDirectory).length === 0, 'the partial upload is deleted');
      assert.equal((await jobState(context, jobId)).photoCount, 0);
    });

    for (const order of ['jobId first', 'image first'] as const) {
      it(`leaves nothing behind when the client aborts (${order})`, async () => {
        const jobId = await openJob(context, user);
        const image = fixture('astronaut.png');
        const imagePart = Buffer.concat([imagePartHead(), image, Buffer.from('\r\n')]);
        const parts = order === 'jobId first' ? [fieldPart('jobId', jobId), imagePart] : [imagePart, fieldPart('jobId', jobId)];
        const body = Buffer.concat([...parts, Buffer.from(`--${BOUNDARY}--\r\n`)]);
        const socket = await connect();

        socket.write(uploadHead(user, body.length));
        socket.write(body.subarray(0, body.length / 2));
        await waitFor(() => listFiles(context.container.uploadTemporaryDirectory).length === 1, 'the server spools the image');
        socket.destroy();
        await waitFor(() => listFiles(context.container.uploadTemporaryDirectory).length === 0, 'the spooled image is deleted');

        const state = await jobState(context, jobId);
        const health = await context.app.inject({ method: 'GET', url: '/healthz' });
        assert.equal(state.photoCount, 0);
        assert.deepEqual(state.photos, []);
        assert.deepEqual(state.files, []);
        assert.deepEqual(state.temporaryFiles, []);
        assert.equal(health.statusCode, 200);
      });
    }

    it('takes a whole upload over a real connection', async () => {
      const jobId = await openJob(context, user);
      const body = Buffer.concat([imagePartHead(), fixture('astronaut.jpg'), Buffer.from('\r\n'), fieldPart('jobId', jobId), Buffer.from(`--${BOUNDARY}--\r\n`)]);
      const socket = await connect();
      const response = readResponse(socket);

      socket.write(uploadHead(user, body.length));
      for (let offset = 0; offset < body.length; offset += 4096) {
        socket.write(body.subarray(offset, offset + 4096));
      }

      const answer = await response;
      assert.equal(answer.statusCode, 200, answer.body);
      assert.equal(JSON.parse(answer.body).photoCount, 1);
    });
  });
}
