import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { appError } from '../../src/domain/errors.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import {
  CAMERA_MAKE,
  closeColour,
  fixture,
  GPS_LATITUDE_RATIONALS,
  jpegDeclaring,
  jpegWithOrientation,
  jpegWithPrivateMetadata,
  pixelAt,
  pngDeclaring,
  QUADRANT_COLOURS,
  quadrantImage,
  XMP_TOOL,
} from '../helpers/images.js';
import { ACCEPTED, FakeQualityGate, jobState, listFiles, openJob, readStored, upload, uploadImage } from '../helpers/uploads.js';
import { createTestUser, type TestUser } from '../helpers/users.js';

for (const kind of DATABASE_KINDS) {
  describe(`jobs on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let user: TestUser;

    before(async () => {
      context = await createTestContext(kind);
      user = await createTestUser(context);
    });
    after(async () => context?.close());

    it('opens a job with a random id owned by the caller', async () => {
      const first = await openJob(context, user);
      const second = await openJob(context, user);
      const row = await context.container.database.db.selectFrom('jobs').selectAll().where('id', '=', first).executeTakeFirstOrThrow();

      assert.match(first, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.notEqual(first, second);
      assert.equal(row.user_id, user.id);
      assert.equal(row.photo_count, 0);
    });

    it('answers at the corrected spelling too', async () => {
      const response = await context.app.inject({ method: 'GET', url: '/initialize-job', headers: user.authorization });

      assert.equal(response.statusCode, 200);
      assert.equal(typeof response.json().jobId, 'string');
    });

    it('requires a token', async () => {
      const missing = await context.app.inject({ method: 'GET', url: '/initalize-job' });
      const invalid = await context.app.inject({ method: 'GET', url: '/initalize-job', headers: { authorization: 'Bearer not-a-jwt' } });

      assert.equal(missing.statusCode, 401);
      assert.equal(missing.json().error.code, 'missing_token');
      assert.equal(invalid.statusCode, 401);
      assert.equal(invalid.json().error.code, 'invalid_token');
    });

    it('finds a job only for its owner', async () => {
      const jobId = await openJob(context, user);
      const stranger = await createTestUser(context);

      const owned = await context.container.jobs.getOwnedJob(user.id, jobId);
      await assert.rejects(context.container.jobs.getOwnedJob(stranger.id, jobId), { code: 'job_not_found', statusCode: 404 });
      await assert.rejects(context.container.jobs.getOwnedJob(user.id, 'no-such-job'), { code: 'job_not_found' });
      assert.equal(owned.id, jobId);
      assert.equal(owned.userId, user.id);
    });
  });

  describe(`uploads on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let user: TestUser;
    const gate = new FakeQualityGate();

    before(async () => {
      context = await createTestContext(kind, { overrides: () => ({ qualityGate: gate }) });
      user = await createTestUser(context);
    });
    after(async () => context?.close());
    afterEach(() => gate.reset());

    for (const [name, width, height] of [
      ['astronaut.jpg', 512, 512],
      ['astronaut.png', 512, 512],
      ['astronaut.heic', 512, 512],
      ['camera.png', 512, 512],
      ['chelsea.png', 451, 300],
      ['coffee.png', 600, 400],
    ] as const) {
      it(`stores ${name} normalised as JPEG`, async () => {
        const jobId = await openJob(context, user);

        const response = await uploadImage(context, user, jobId, fixture(name), name);
        const body = response.json();
        const state = await jobState(context, jobId);
        const photo = state.photos[0]!;
        const stored = await readStored(context, photo.storage_key);
        const metadata = await sharp(stored).metadata();
        const thumbnail = await sharp(await readStored(context, photo.thumbnail_key)).metadata();

        assert.equal(response.statusCode, 200, response.body);
        assert.equal(body.jobId, jobId);
        assert.equal(body.photoId, photo.id);
        assert.equal(body.photoCount, 1);
        assert.equal(body.width, width);
        assert.equal(body.height, height);
        assert.equal(state.photoCount, 1);
        assert.equal(metadata.format, 'jpeg');
        assert.equal(metadata.space, 'srgb');
        assert.equal(metadata.channels, 3);
        assert.equal(metadata.depth, 'uchar');
        assert.equal(metadata.width, width);
        assert.equal(metadata.height, height);
        assert.equal(photo.bytes, stored.length);
        assert.equal(thumbnail.format, 'jpeg');
        assert.equal(Math.max(thumbnail.width!, thumbnail.height!), 384);
        assert.deepEqual(state.temporaryFiles, []);
      });
    }

    it('decodes HEIC to the same picture as the PNG', async () => {
      const jobId = await openJob(context, user);

      await uploadImage(context, user, jobId, fixture('astronaut.png'));
      await uploadImage(context, user, jobId, fixture('astronaut.heic'));
      const [fromPng, fromHeic] = (await jobState(context, jobId)).photos;
      const pngPixels = await sharp(await readStored(context, fromPng!.storage_key)).raw().toBuffer();
      const heicPixels = await sharp(await readStored(context, fromHeic!.storage_key)).raw().toBuffer();
      let difference = 0;
      for (let index = 0; index < pngPixels.length; index += 1) {
        difference += Math.abs(pngPixels[index]! - heicPixels[index]!);
      }

      assert.equal(heicPixels.length, pngPixels.length);
      assert.ok(difference / pngPixels.length < 6, `mean difference per channel ${difference / pngPixels.length}`);
    });

    it('reads the parts in either order', async () => {
      const jobId = await openJob(context, user);
      const image = fixture('astronaut.jpg');

      const jobIdFirst = await upload(context, user, [
        { name: 'jobId', value: jobId },
        { name: 'image', filename: 'a.jpg', data: image },
      ]);
      const imageFirst = await upload(context, user, [
        { name: 'image', filename: 'a.jpg', data: image },
        { name: 'jobId', value: jobId },
      ]);

      assert.equal(jobIdFirst.statusCode, 200, jobIdFirst.body);
      assert.equal(imageFirst.statusCode, 200, imageFirst.body);
      assert.equal(imageFirst.json().photoCount, 2);
    });

    it('accepts an image part sent without a filename', async () => {
      const jobId = await openJob(context, user);

      const response = await upload(context, user, [
        { name: 'jobId', value: jobId },
        { name: 'image', data: fixture('astronaut.jpg'), contentType: 'image/jpeg' },
      ]);

      assert.equal(response.statusCode, 200, response.body);
    });

    for (const orientation of [3, 6, 8] as const) {
      it(`turns EXIF orientation ${orientation} upright`, async () => {
        const jobId = await openJob(context, user);
        const upright = await quadrantImage(120, 60);

        const response = await uploadImage(context, user, jobId, await jpegWithOrientation(upright, orientation));
        const stored = await readStored(context, (await jobState(context, jobId)).photos[0]!.storage_key);
        const metadata = await sharp(stored).metadata();
        const corners = [
          await pixelAt(stored, 30, 15),
          await pixelAt(stored, 90, 15),
          await pixelAt(stored, 30, 45),
          await pixelAt(stored, 90, 45),
        ];

        assert.equal(response.statusCode, 200, response.body);
        assert.equal(metadata.width, 120);
        assert.equal(metadata.height, 60);
        assert.equal(metadata.orientation, undefined);
        assert.equal(metadata.exif, undefined);
        corners.forEach((colour, index) => assert.ok(closeColour(colour, QUADRANT_COLOURS[index]!), `quadrant ${index} is ${colour}`));
      });
    }

    it('keeps GPS, camera, XMP and ICC data out of storage', async () => {
      const jobId = await openJob(context, user);
      const original = await jpegWithPrivateMetadata(await quadrantImage(400, 300));
      assert.ok(original.includes(GPS_LATITUDE_RATIONALS), 'the test photo carries the GPS latitude');

      const response = await uploadImage(context, user, jobId, original);
      const photo = (await jobState(context, jobId)).photos[0]!;

      assert.equal(response.statusCode, 200, response.body);
      for (const key of [photo.storage_key, photo.thumbnail_key]) {
        const stored = await readStored(context, key);
        const metadata = await sharp(stored).metadata();
        assert.equal(stored.includes(GPS_LATITUDE_RATIONALS), false, `${key} holds the GPS latitude`);
        assert.equal(stored.includes('Exif\0\0'), false, `${key} has an EXIF block`);
        assert.equal(stored.includes(CAMERA_MAKE), false, `${key} names the camera`);
        assert.equal(stored.includes(XMP_TOOL), false, `${key} holds the XMP packet`);
        assert.equal(metadata.exif, undefined);
        assert.equal(metadata.xmp, undefined);
        assert.equal(metadata.icc, undefined);
      }
    });

    it('does not keep the uploaded bytes', async () => {
      const jobId = await openJob(context, user);
      const original = fixture('astronaut.jpg');

      await uploadImage(context, user, jobId, original);
      const state = await jobState(context, jobId);
      const files = await Promise.all(state.photos.flatMap((photo) => [photo.storage_key, photo.thumbnail_key]).map((key) => readStored(context, key)));

      assert.equal(state.files.length, 2);
      assert.ok(files.every((file) => !file.equals(original)));
    });

    it('bounds the long side of large photos', async () => {
      const jobId = await openJob(context, user);
      const large = await sharp(await quadrantImage(3000, 1500)).jpeg().toBuffer();

      const response = await uploadImage(context, user, jobId, large);

      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().width, 1536);
      assert.equal(response.json().height, 768);
    });

    it('flattens transparency onto white', async () => {
      const jobId = await openJob(context, user);
      const transparent = await sharp({ create: { width: 40, height: 40, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();

      await uploadImage(context, user, jobId, transparent);
      const stored = await readStored(context, (await jobState(context, jobId)).photos[0]!.storage_key);

      assert.ok(closeColour(await pixelAt(stored, 20, 20), [255, 255, 255], 5));
    });

    for (const [name, image] of [
      ['SVG', () => fixture('drawing.svg')],
      ['PDF', () => fixture('document.pdf')],
      ['plain text', async () => Buffer.from('these are not the pixels you are looking for\n')],
      ['GIF', () => sharp(fixture('coffee.png')).gif().toBuffer()],
      ['AVIF', () => sharp(fixture('coffee.png')).avif().toBuffer()],
      ['TIFF', () => sharp(fixture('coffee.png')).tiff().toBuffer()],
    ] as const) {
      it(`rejects ${name} with 415 and stores nothing`, async () => {
        const jobId = await openJob(context, user);

        const response = await uploadImage(context, user, jobId, await image(), 'photo.jpg');
        const state = await jobState(context, jobId);

        assert.equal(response.statusCode, 415, response.body);
        assert.equal(response.json().error.code, 'unsupported_image_format');
        assert.equal(state.photoCount, 0);
        assert.deepEqual(state.photos, []);
        assert.deepEqual(state.files, []);
        assert.deepEqual(state.temporaryFiles, []);
        assert.equal(gate.inputs.length, 0);
      });
    }

    for (const [name, image] of [
      ['truncated.jpg', async () => fixture('truncated.jpg')],
      ['a JPEG cut in half', async () => fixture('astronaut.jpg').subarray(0, 33_000)],
      ['a PNG cut in half', async () => fixture('astronaut.png').subarray(0, 400_000)],
      ['a HEIC cut in half', async () => fixture('astronaut.heic').subarray(0, 22_000)],
      ['JPEG magic followed by noise', async () => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 7)])],
      ['an empty file', async () => Buffer.alloc(0)],
    ] as const) {
      it(`rejects ${name} with 422 and stores nothing`, async () => {
        const jobId = await openJob(context, user);

        const response = await uploadImage(context, user, jobId, await image());
        const state = await jobState(context, jobId);

        assert.equal(response.statusCode, 422, response.body);
        assert.equal(response.json().error.code, 'invalid_image');
        assert.equal(state.photoCount, 0);
        assert.deepEqual(state.files, []);
        assert.deepEqual(state.temporaryFiles, []);
      });
    }

    for (const [name, image] of [
      ['a PNG declaring 100000×100000 pixels', () => pngDeclaring(100_000, 100_000)],
      ['a JPEG declaring 60000×60000 pixels', () => jpegDeclaring(60_000, 60_000)],
    ] as const) {
      it(`rejects ${name} from its header`, async () => {
        const jobId = await openJob(context, user);
        const bytes = await image();
        assert.ok(bytes.length < 1000, 'the file itself is small');

        const response = await uploadImage(context, user, jobId, bytes);
        const state = await jobState(context, jobId);

        assert.equal(response.statusCode, 413, response.body);
        assert.equal(response.json().error.code, 'image_too_large');
        assert.match(response.json().error.message, /the limit is 50 megapixels/);
        assert.equal(state.photoCount, 0);
        assert.deepEqual(state.files, []);
      });
    }

    it('rejects another user’s job with 404', async () => {
      const jobId = await openJob(context, user);
      const stranger = await createTestUser(context);

      const response = await uploadImage(context, stranger, jobId, fixture('astronaut.jpg'));
      const state = await jobState(context, jobId);

      assert.equal(response.statusCode, 404, response.body);
      assert.equal(response.json().error.code, 'job_not_found');
      assert.equal(state.photoCount, 0);
      assert.deepEqual(state.temporaryFiles, []);
    });

    it('rejects an unknown job with 404 whatever the part order', async () => {
      const imageFirst = await upload(context, user, [
        { name: 'image', filename: 'a.jpg', data: fixture('astronaut.jpg') },
        { name: 'jobId', value: 'no-such-job' },
      ]);

      assert.equal(imageFirst.statusCode, 404);
      assert.equal(imageFirst.json().error.code, 'job_not_found');
    });

    it('requires a token for uploads', async () => {
      const jobId = await openJob(context, user);
      const parts = [
        { name: 'jobId', value: jobId },
        { name: 'image', filename: 'a.jpg', data: fixture('astronaut.jpg') },
      ];

      const missing = await upload(context, undefined, parts);
      const invalid = await upload(context, { id: user.id, token: 'x', authorization: { authorization: 'Bearer x.y.z' } }, parts);

      assert.equal(missing.statusCode, 401);
      assert.equal(missing.json().error.code, 'missing_token');
      assert.equal(invalid.statusCode, 401);
      assert.equal(invalid.json().error.code, 'invalid_token');
      assert.equal((await jobState(context, jobId)).photoCount, 0);
    });

    it('reports a malformed form as 400', async () => {
      const jobId = await openJob(context, user);
      const image = fixture('astronaut.jpg');
      const cases = [
        { parts: [{ name: 'image', filename: 'a.jpg', data: image }], field: 'jobId' },
        { parts: [{ name: 'jobId', value: jobId }], field: 'image' },
        {
          parts: [
            { name: 'jobId', value: jobId },
            { name: 'image', filename: 'a.jpg', data: image },
            { name: 'image', filename: 'b.jpg', data: image },
          ],
          field: 'image',
        },
        { parts: [{ name: 'jobId', value: jobId }, { name: 'photo', filename: 'a.jpg', data: image }], field: undefined },
        { parts: [], field: 'jobId' },
        { parts: [{ name: 'jobId', value: 'x'.repeat(2000) }], field: undefined },
        { parts: Array.from({ length: 11 }, (_, index) => ({ name: `extra${index}`, value: 'x' })), field: undefined },
      ];

      for (const { parts, field } of cases) {
        const response = await upload(context, user, parts);
        assert.equal(response.statusCode, 400, response.body);
        assert.equal(response.json().error.code, 'invalid_request');
        assert.equal(response.json().error.details?.[0]?.field, field, response.body);
      }
      const state = await jobState(context, jobId);
      assert.equal(state.photoCount, 0);
      assert.deepEqual(state.temporaryFiles, []);
    });

    it('rejects a body that is not multipart with 415', async () => {
      const response = await context.app.inject({
        method: 'POST',
        url: '/upload',
        headers: user.authorization,
        payload: { jobId: 'x', image: 'y' },
      });

      assert.equal(response.statusCode, 415);
      assert.equal(response.json().error.code, 'unsupported_media_type');
    });

    it('rejects a multipart body without its closing boundary', async () => {
      const jobId = await openJob(context, user);
      const body = Buffer.from(`--b\r\nContent-Disposition: form-data; name="jobId"\r\n\r\n${jobId}\r\n--b\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n`);

      const response = await context.app.inject({
        method: 'POST',
        url: '/upload',
        headers: { ...user.authorization, 'content-type': 'multipart/form-data; boundary=b' },
        payload: Buffer.concat([body, fixture('astronaut.jpg').subarray(0, 1000)]),
      });

      assert.equal(response.statusCode, 400, response.body);
      assert.deepEqual((await jobState(context, jobId)).temporaryFiles, []);
    });

    it('never uses the client filename as a path', async () => {
      const jobId = await openJob(context, user);

      const response = await uploadImage(context, user, jobId, fixture('astronaut.jpg'), '../../../escape.jpg');
      const everything = listFiles(context.config.dataDir);

      assert.equal(response.statusCode, 200, response.body);
      assert.ok(everything.every((file) => !file.includes('escape')), everything.join(', '));
    });

    it('stores what the quality gate found', async () => {
      const jobId = await openJob(context, user);
      gate.result = async () => ({
        ...ACCEPTED,
        perceptualHash: 'f0e1d2c3b4a59687',
        faceBox: { x: 10, y: 20, width: 100, height: 120 },
        faceDescriptor: [0.25, -0.5, 1],
        skippedChecks: ['blur'],
      });

      const first = await uploadImage(context, user, jobId, fixture('astronaut.jpg'));
      await uploadImage(context, user, jobId, fixture('astronaut.png'));
      const photo = (await jobState(context, jobId)).photos[0]!;
      const secondInput = gate.inputs[1]!;

      assert.equal(first.statusCode, 200, first.body);
      assert.deepEqual(first.json().skippedChecks, ['blur']);
      assert.deepEqual(first.json().faceBox, { x: 10, y: 20, width: 100, height: 120 });
      assert.equal(photo.perceptual_hash, 'f0e1d2c3b4a59687');
      assert.deepEqual(JSON.parse(photo.face_box!), { x: 10, y: 20, width: 100, height: 120 });
      assert.deepEqual(JSON.parse(photo.face_descriptor!), [0.25, -0.5, 1]);
      assert.equal((await sharp(gate.inputs[0]!.image).metadata()).format, 'jpeg');
      assert.equal(gate.inputs[0]!.width, 512);
      assert.deepEqual(gate.inputs[0]!.acceptedPhotos, []);
      assert.deepEqual(secondInput.acceptedPhotos, [{ id: photo.id, perceptualHash: 'f0e1d2c3b4a59687', faceDescriptor: [0.25, -0.5, 1] }]);
    });

    it('answers 422 with every rejection of the quality gate', async () => {
      const jobId = await openJob(context, user);
      gate.result = async () => ({
        ...ACCEPTED,
        rejections: [
          { code: 'no_face', message: 'No face was found.' },
          { code: 'too_blurry', message: 'The photo is blurry.' },
        ],
      });

      const response = await uploadImage(context, user, jobId, fixture('coffee.png'));
      const body = response.json();
      const state = await jobState(context, jobId);

      assert.equal(response.statusCode, 422);
      assert.equal(body.error.code, 'photo_rejected');
      assert.deepEqual(
        body.error.details.map((detail: { code: string }) => detail.code),
        ['no_face', 'too_blurry'],
      );
      assert.match(body.error.message, /No face was found\. The photo is blurry\./);
      assert.equal(state.photoCount, 0);
      assert.deepEqual(state.files, []);
      assert.deepEqual(state.temporaryFiles, []);
    });

    it('names the conflicting photo in a 422', async () => {
      const jobId = await openJob(context, user);
      gate.result = async () => ({
        ...ACCEPTED,
        rejections: [
          { code: 'duplicate_photo', message: 'The same shot as photo p1.', photoId: 'p1' },
          { code: 'different_person', message: 'Not the face in photo p2.', photoId: 'p2' },
        ],
      });

      const response = await uploadImage(context, user, jobId, fixture('astronaut.jpg'));

      assert.equal(response.statusCode, 422);
      assert.deepEqual(response.json().error.details, [
        { field: 'image', code: 'duplicate_photo', message: 'The same shot as photo p1.', photoId: 'p1' },
        { field: 'image', code: 'different_person', message: 'Not the face in photo p2.', photoId: 'p2' },
      ]);
    });

    for (const [failure, error] of [
      ['a crashed thread', new Error('A face analysis thread stopped (exit code 1)')],
      ['a full queue', appError('service_unavailable', 'Too many photos are being checked right now.', { headers: { 'Retry-After': '5' } })],
    ] as const) {
      it(`answers 503 for ${failure} in the gate`, async () => {
        const jobId = await openJob(context, user);
        gate.result = async () => {
          throw error;
        };

        const response = await uploadImage(context, user, jobId, fixture('astronaut.jpg'));
        const state = await jobState(context, jobId);

        assert.equal(response.statusCode, 503, response.body);
        assert.equal(response.json().error.code, 'service_unavailable');
        assert.match(response.json().error.message, /Retry the upload|right now/);
        assert.doesNotMatch(response.json().error.message, /thread|exit code/);
        assert.equal(response.headers['retry-after'], '5');
        assert.equal(state.photoCount, 0);
        assert.deepEqual(state.photos, []);
        assert.deepEqual(state.files, []);
        assert.deepEqual(state.temporaryFiles, []);
      });
    }

    it('documents the face box and rejections in OpenAPI', async () => {
      const document = (await context.app.inject({ method: 'GET', url: '/openapi.json' })).json();
      const responses = document.paths['/upload'].post.responses;
      const accepted = responses['200'].content['application/json'].schema;
      const rejected = responses['422'].content['application/json'].schema;
      const detail = rejected.properties.error.properties.details.items;

      assert.deepEqual(Object.keys(accepted.properties.faceBox.anyOf[0].properties), ['x', 'y', 'width', 'height']);
      assert.deepEqual(detail.properties.code.enum, ['no_face', 'multiple_faces', 'face_too_small', 'too_blurry', 'duplicate_photo', 'different_person']);
      assert.equal(detail.properties.photoId.type, 'string');
      assert.ok(responses['503'], 'a failed quality gate is a documented 503');
    });

    it('reports the disabled gate’s skipped checks by default', async () => {
      const plain = await createTestContext(kind);
      try {
        const owner = await createTestUser(plain);
        const jobId = await openJob(plain, owner);

        const response = await uploadImage(plain, owner, jobId, fixture('astronaut.jpg'));

        assert.deepEqual(response.json().skippedChecks, ['faces', 'blur', 'duplicates', 'same_person']);
        assert.equal(response.json().faceBox, null);
      } finally {
        await plain.close();
      }
    });

    it('returns a thumbnail link that serves the stored thumbnail', async () => {
      const jobId = await openJob(context, user);

      const response = await uploadImage(context, user, jobId, fixture('astronaut.jpg'));
      const link = new URL(response.json().thumbnailUrl);
      const download = await context.app.inject({ method: 'GET', url: link.pathname + link.search });
      const photo = (await jobState(context, jobId)).photos[0]!;

      assert.equal(download.statusCode, 200);
      assert.equal(download.headers['content-type'], 'image/jpeg');
      assert.ok(download.rawPayload.equals(await readStored(context, photo.thumbnail_key)));
    });
  });

  describe(`upload limits on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    const gate = new FakeQualityGate();

    before(async () => {
      context = await createTestContext(kind, {
        env: {
          UPLOAD_MAX_FILE_BYTES: String(200 * 1024),
          UPLOAD_MAX_MEGAPIXELS: '1',
          UPLOAD_MAX_PHOTOS_PER_JOB: '2',
          UPLOAD_RATE_LIMIT_PER_MINUTE: '6',
        },
        overrides: () => ({ qualityGate: gate }),
      });
    });
    after(async () => context?.close());
    afterEach(() => gate.reset());

    it('rejects a file over the byte limit with 413', async () => {
      const user = await createTestUser(context);
      const jobId = await openJob(context, user);

      const response = await uploadImage(context, user, jobId, fixture('astronaut.png'));
      const state = await jobState(context, jobId);

      assert.equal(response.statusCode, 413, response.body);
      assert.equal(response.json().error.code, 'file_too_large');
      assert.match(response.json().error.message, /larger than 204800 bytes/);
      assert.equal(state.photoCount, 0);
      assert.deepEqual(state.temporaryFiles, []);
    });

    it('rejects a photo over the pixel limit with 413', async () => {
      const user = await createTestUser(context);
      const jobId = await openJob(context, user);
      const photo = await sharp({ create: { width: 1200, height: 1000, channels: 3, background: '#446688' } }).jpeg().toBuffer();

      const response = await uploadImage(context, user, jobId, photo);

      assert.equal(response.statusCode, 413, response.body);
      assert.equal(response.json().error.code, 'image_too_large');
      assert.match(response.json().error.message, /1200×1000 pixels \(1\.2 megapixels\); the limit is 1 megapixels/);
    });

    it('stops a job at its photo limit', async () => {
      const user = await createTestUser(context);
      const jobId = await openJob(context, user);
      const image = fixture('astronaut.jpg');

      const first = await uploadImage(context, user, jobId, image);
      const second = await uploadImage(context, user, jobId, image);
      const third = await uploadImage(context, user, jobId, image);
      const state = await jobState(context, jobId);

      assert.equal(first.json().photoCount, 1);
      assert.equal(second.json().photoCount, 2);
      assert.equal(third.statusCode, 409);
      assert.equal(third.json().error.code, 'too_many_photos');
      assert.equal(state.photoCount, 2);
      assert.equal(state.photos.length, 2);
      assert.equal(state.files.length, 4);
    });

    it('lets one of two racing uploads take the last place', async () => {
      const user = await createTestUser(context);
      const jobId = await openJob(context, user);
      const image = fixture('astronaut.jpg');
      await uploadImage(context, user, jobId, image);
      // The gate keeps both uploads waiting until both have passed the early check, so both reach the insert.
      let release: () => void = () => undefined;
      const bothArrived = new Promise<void>((resolve) => {
        release = resolve;
      });
      gate.result = async () => {
        if (gate.inputs.length === 2) {
          release();
        }
        await bothArrived;
        return ACCEPTED;
      };

      const responses = await Promise.all([uploadImage(context, user, jobId, image), uploadImage(context, user, jobId, image)]);
      const state = await jobState(context, jobId);

      assert.deepEqual(responses.map((response) => response.statusCode).sort(), [200, 409]);
      assert.equal(state.photoCount, 2);
      assert.equal(state.photos.length, 2);
      assert.equal(state.files.length, 4);
      assert.deepEqual(state.temporaryFiles, []);
    });

    it('limits the request rate per user', async () => {
      const user = await createTestUser(context);
      const other = await createTestUser(context);
      const jobId = await openJob(context, user);

      const statuses: number[] = [];
      for (let attempt = 0; attempt < 7; attempt += 1) {
        statuses.push((await upload(context, user, [{ name: 'jobId', value: jobId }])).statusCode);
      }
      const limited = await upload(context, user, [{ name: 'jobId', value: jobId }]);
      const otherUser = await upload(context, other, [{ name: 'jobId', value: jobId }]);

      assert.deepEqual(statuses, [400, 400, 400, 400, 400, 400, 429]);
      assert.equal(limited.json().error.code, 'rate_limited');
      assert.match(limited.json().error.message, /at most 6 a minute/);
      assert.ok(Number(limited.headers['retry-after']) > 0);
      assert.equal(otherUser.statusCode, 404, 'another user is not limited, so the job check answers');
    });
  });
}
