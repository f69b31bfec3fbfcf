import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import sharp from 'sharp';
import { createQualityGate } from '../../src/container.js';
import type { AcceptedPhoto, PhotoInspection, PhotoQualityGate, PhotoRejection } from '../../src/domain/photos/quality-gate.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { blurredPhoto, fixturePhoto, sideBySidePhoto, smallFacePhoto } from '../helpers/photos.js';
import { jobState, openJob, uploadImage } from '../helpers/uploads.js';
import { createTestUser, type TestUser } from '../helpers/users.js';

// POST /upload with the real quality gate (face models on worker threads), on the test photos and
// photos made from them. One context per database, so each worker thread loads the models once.

type InspectInput = Parameters<PhotoQualityGate['inspect']>[0];

interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface RejectionDetail {
  field: string;
  code: string;
  message: string;
  photoId?: string;
}

/**
 * The container's gate, passed through. After `holdVerdicts(n)`, each inspection's result is held back
 * until n inspections have finished, so that n concurrent uploads all pass `inspect` before any of them
 * is recorded.
 */
class HoldingQualityGate implements PhotoQualityGate {
  readonly inputs: InspectInput[] = [];
  private hold: { expected: number; finished: number; release(): void; released: Promise<void> } | undefined;

  constructor(private readonly gate: PhotoQualityGate) {}

  holdVerdicts(expected: number): void {
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.hold = { expected, finished: 0, release, released };
  }

  async inspect(input: InspectInput): Promise<PhotoInspection> {
    this.inputs.push(input);
    const inspection = await this.gate.inspect(input);
    const hold = this.hold;
    if (hold !== undefined) {
      hold.finished += 1;
      if (hold.finished >= hold.expected) {
        this.hold = undefined;
        hold.release();
      }
      await hold.released;
    }
    return inspection;
  }

  compareWithJobPhotos(inspection: PhotoInspection, acceptedPhotos: AcceptedPhoto[]): PhotoRejection[] {
    return this.gate.compareWithJobPhotos(inspection, acceptedPhotos);
  }

  close(): Promise<void> {
    return this.gate.close();
  }
}

function rejectionDetails(response: LightMyRequestResponse): RejectionDetail[] {
  assert.equal(response.statusCode, 422, response.body);
  assert.equal(response.json().error.code, 'photo_rejected');
  return response.json().error.details;
}

function rejectionCodes(response: LightMyRequestResponse): string[] {
  return rejectionDetails(response).map((detail) => detail.code);
}

for (const kind of DATABASE_KINDS) {
  describe(`uploads through the quality gate on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let gate: HoldingQualityGate;
    let user: TestUser;
    /** A job holding one accepted astronaut.png, uploaded in `before`. */
    let astronautJob: string;
    let astronaut: LightMyRequestResponse;

    before(async () => {
      context = await createTestContext(kind, {
        env: { QUALITY_GATE_ENABLED: 'true' },
        overrides: (config) => {
          gate = new HoldingQualityGate(createQualityGate(config));
          return { qualityGate: gate };
        },
      });
      user = await createTestUser(context);
      astronautJob = await openJob(context, user);
      astronaut = await uploadImage(context, user, astronautJob, fixturePhoto('astronaut'), 'astronaut.png');
    });
    after(async () => context?.close());

    /** Uploads `image` to `jobId` and checks that the job, its files and the spool are as they were. */
    async function uploadRejected(jobId: string, image: Buffer): Promise<LightMyRequestResponse> {
      const before = await jobState(context, jobId);
      const response = await uploadImage(context, user, jobId, image);
      const after = await jobState(context, jobId);

      assert.equal(response.statusCode, 422, response.body);
      assert.equal(after.photoCount, before.photoCount);
      assert.deepEqual(after.photos, before.photos);
      assert.deepEqual(after.files, before.files);
      assert.deepEqual(after.temporaryFiles, []);
      return response;
    }

    async function uploadRejectedToNewJob(image: Buffer): Promise<LightMyRequestResponse> {
      return uploadRejected(await openJob(context, user), image);
    }

    it('accepts astronaut with its face box', async () => {
      const body = astronaut.json();
      const state = await jobState(context, astronautJob);
      const row = state.photos[0]!;

      assert.equal(astronaut.statusCode, 200, astronaut.body);
      assert.deepEqual(body.skippedChecks, []);
      // The face of the 512 × 512 portrait sits left of centre in the upper half.
      const box: FaceBox = body.faceBox;
      assert.ok(box.x > 150, `box ${JSON.stringify(box)}`);
      assert.ok(box.x + box.width < 300, `box ${JSON.stringify(box)}`);
      assert.ok(box.y > 40, `box ${JSON.stringify(box)}`);
      assert.ok(box.y + box.height < 220, `box ${JSON.stringify(box)}`);
      assert.equal(state.photoCount, 1);
      assert.equal(row.id, body.photoId);
      assert.deepEqual(JSON.parse(row.face_box!), box);
      assert.equal((JSON.parse(row.face_descriptor!) as number[]).length, 128);
      assert.match(row.perceptual_hash ?? '', /^[0-9a-f]{16}$/);
    });

    it('rejects coffee as no_face', async () => {
      const response = await uploadRejectedToNewJob(fixturePhoto('coffee'));
      const details = rejectionDetails(response);

      assert.deepEqual(rejectionCodes(response), ['no_face']);
      assert.equal(details[0]!.field, 'image');
      assert.match(details[0]!.message, /No face was found/);
      assert.equal(details[0]!.photoId, undefined);
      assert.match(response.json().error.message, /No face was found/);
    });

    it('rejects astronaut twice as duplicate_photo', async () => {
      const response = await uploadRejected(astronautJob, fixturePhoto('astronaut'));
      const detail = rejectionDetails(response)[0]!;

      assert.deepEqual(rejectionCodes(response), ['duplicate_photo']);
      assert.equal(detail.photoId, astronaut.json().photoId);
      assert.ok(detail.message.includes(astronaut.json().photoId), detail.message);
    });

    it('rejects camera after astronaut as different_person', async () => {
      const response = await uploadRejected(astronautJob, fixturePhoto('camera'));
      const detail = rejectionDetails(response)[0]!;

      assert.deepEqual(rejectionCodes(response), ['different_person']);
      assert.equal(detail.photoId, astronaut.json().photoId);
      assert.ok(detail.message.includes(astronaut.json().photoId), detail.message);
    });

    it('rejects two faces as multiple_faces', async () => {
      const response = await uploadRejectedToNewJob(await sideBySidePhoto('astronaut', 'camera'));

      assert.deepEqual(rejectionCodes(response), ['multiple_faces']);
      assert.match(rejectionDetails(response)[0]!.message, /2 faces/);
    });

    it('rejects a sigma 6 blur as too_blurry', async () => {
      // The detector no longer finds the face at this blur, so no_face is listed too.
      const response = await uploadRejectedToNewJob(await blurredPhoto('astronaut', 6));

      assert.deepEqual(rejectionCodes(response), ['no_face', 'too_blurry']);
    });

    it('rejects a sigma 2.5 blur as too_blurry', async () => {
      const response = await uploadRejectedToNewJob(await blurredPhoto('astronaut', 2.5));

      assert.deepEqual(rejectionCodes(response), ['too_blurry']);
    });

    it('rejects a small face as face_too_small', async () => {
      const response = await uploadRejectedToNewJob(await smallFacePhoto('astronaut', 256, 1024));

      assert.deepEqual(rejectionCodes(response), ['face_too_small']);
    });

    it('rejects the cat as no_face', async () => {
      // A person detector reports the cat's face; the second detector does not confirm it.
      const response = await uploadRejectedToNewJob(fixturePhoto('chelsea'));

      assert.deepEqual(rejectionCodes(response), ['no_face']);
    });

    it('returns the face box in pixels of the stored photo', async () => {
      // A 3072-pixel astronaut whose pixels are stored turned 90° anticlockwise, with EXIF orientation 6
      // to show it upright. The server stores it upright at 1536 pixels, three times the 512-pixel fixture.
      const turned = await sharp(fixturePhoto('astronaut')).resize(3072).rotate(270).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toBuffer();
      const jobId = await openJob(context, user);

      const response = await uploadImage(context, user, jobId, turned);
      const body = response.json();
      const box: FaceBox = body.faceBox;
      const small: FaceBox = astronaut.json().faceBox;

      assert.equal(response.statusCode, 200, response.body);
      assert.equal(body.width, 1536);
      assert.equal(body.height, 1536);
      for (const side of ['x', 'y', 'width', 'height'] as const) {
        assert.ok(Math.abs(box[side] - small[side] * 3) < 24, `${side}: ${box[side]} against ${small[side] * 3}`);
      }
      assert.deepEqual(JSON.parse((await jobState(context, jobId)).photos[0]!.face_box!), box);
    });

    it('accepts only one of two concurrent duplicates', async () => {
      const jobId = await openJob(context, user);
      const inspectedBefore = gate.inputs.length;
      gate.holdVerdicts(2);

      const responses = await Promise.all([
        uploadImage(context, user, jobId, fixturePhoto('astronaut')),
        uploadImage(context, user, jobId, fixturePhoto('astronaut')),
      ]);
      const accepted = responses.find((response) => response.statusCode === 200);
      const rejected = responses.find((response) => response.statusCode !== 200);
      const state = await jobState(context, jobId);

      // Both were inspected against the empty job, so only the check when recording caught the duplicate.
      assert.deepEqual(
        gate.inputs.slice(inspectedBefore).map((input) => input.acceptedPhotos),
        [[], []],
      );
      assert.ok(accepted !== undefined, responses.map((response) => response.body).join('\n'));
      assert.ok(rejected !== undefined, responses.map((response) => response.body).join('\n'));
      assert.deepEqual(rejectionCodes(rejected), ['duplicate_photo']);
      assert.equal(rejectionDetails(rejected)[0]!.photoId, accepted.json().photoId);
      assert.equal(state.photoCount, 1);
      assert.deepEqual(
        state.photos.map((photo) => photo.id),
        [accepted.json().photoId],
      );
      assert.equal(state.files.length, 2);
      assert.deepEqual(state.temporaryFiles, []);
    });
  });
}
