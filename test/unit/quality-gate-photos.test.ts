import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { FaceAnalysisPool } from '../../src/adapters/faces/face-analysis-pool.js';
import { loadConfig } from '../../src/config/config.js';
import { FaceQualityGate } from '../../src/domain/photos/face-quality-gate.js';
import { isAppError } from '../../src/domain/errors.js';
import type { AcceptedPhoto, PhotoInspection } from '../../src/domain/photos/quality-gate.js';
import { blurredPhoto, fixturePhoto, sideBySidePhoto, smallFacePhoto } from '../helpers/photos.js';

// The gate with the real face models on worker threads, on the test photos and photos made from them.

const DEFAULTS = loadConfig({ NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), QUALITY_GATE_THREADS: '2' }).qualityGate;

async function inspect(gate: FaceQualityGate, image: Buffer, acceptedPhotos: AcceptedPhoto[] = []): Promise<PhotoInspection> {
  const { width, height } = await sharp(image).metadata();
  return gate.inspect({ image, width: width!, height: height!, acceptedPhotos });
}

function codes(inspection: PhotoInspection): string[] {
  return inspection.rejections.map((rejection) => rejection.code);
}

/** Builds the accepted-photo record the job would keep for this inspection. */
function asAccepted(id: string, inspection: PhotoInspection): AcceptedPhoto {
  return { id, perceptualHash: inspection.perceptualHash, faceDescriptor: inspection.faceDescriptor };
}

describe('quality gate on photos', () => {
  let pool: FaceAnalysisPool;
  let gate: FaceQualityGate;
  let astronaut: PhotoInspection;

  before(async () => {
    pool = new FaceAnalysisPool({ threads: DEFAULTS.threads });
    gate = new FaceQualityGate(pool, DEFAULTS);
    astronaut = await inspect(gate, fixturePhoto('astronaut'));
  });
  after(() => gate?.close());

  it('accepts astronaut with its face box', () => {
    assert.deepEqual(astronaut.rejections, []);
    assert.deepEqual(astronaut.skippedChecks, []);
    const box = astronaut.faceBox!;
    // The face of the 512 × 512 portrait sits left of centre in the upper half.
    assert.ok(box.x > 150, `box ${JSON.stringify(box)}`);
    assert.ok(box.x + box.width < 300, `box ${JSON.stringify(box)}`);
    assert.ok(box.y > 40, `box ${JSON.stringify(box)}`);
    assert.ok(box.y + box.height < 220, `box ${JSON.stringify(box)}`);
    assert.equal(astronaut.faceDescriptor?.length, 128);
    assert.match(astronaut.perceptualHash ?? '', /^[0-9a-f]{16}$/);
  });

  it('rejects coffee as no_face', async () => {
    const inspection = await inspect(gate, fixturePhoto('coffee'));

    assert.deepEqual(codes(inspection), ['no_face']);
    assert.equal(inspection.faceBox, null);
  });

  it('rejects the cat as no_face', async () => {
    // SSD MobileNet v1 reports the cat's face at 0.93; the second detector does not confirm it.
    const inspection = await inspect(gate, fixturePhoto('chelsea'));

    assert.deepEqual(codes(inspection), ['no_face']);
  });

  it('rejects astronaut twice as duplicate_photo', async () => {
    const inspection = await inspect(gate, fixturePhoto('astronaut'), [asAccepted('first', astronaut)]);

    assert.deepEqual(codes(inspection), ['duplicate_photo']);
    assert.equal(inspection.rejections[0]!.photoId, 'first');
  });

  it('rejects a re-encoded, mirrored astronaut as duplicate_photo', async () => {
    const mirrored = await sharp(fixturePhoto('astronaut')).flop().jpeg({ quality: 80 }).toBuffer();
    const inspection = await inspect(gate, mirrored, [asAccepted('first', astronaut)]);

    assert.deepEqual(codes(inspection), ['duplicate_photo']);
  });

  it('rejects camera after astronaut as different_person', async () => {
    const inspection = await inspect(gate, fixturePhoto('camera'), [asAccepted('first', astronaut)]);

    assert.deepEqual(codes(inspection), ['different_person']);
    assert.equal(inspection.rejections[0]!.photoId, 'first');
    assert.match(inspection.rejections[0]!.message, /photo first/);
  });

  it('accepts camera on its own', async () => {
    const inspection = await inspect(gate, fixturePhoto('camera'));

    assert.deepEqual(inspection.rejections, []);
  });

  it('rejects two people side by side as multiple_faces', async () => {
    const inspection = await inspect(gate, await sideBySidePhoto('astronaut', 'camera'));

    assert.deepEqual(codes(inspection), ['multiple_faces']);
    assert.equal(inspection.faceBox, null);
    assert.deepEqual(inspection.skippedChecks, ['same_person']);
  });

  it('rejects astronaut blurred with sigma 6 as too_blurry', async () => {
    // The detector no longer finds the face, so the photo is also no_face.
    const inspection = await inspect(gate, await blurredPhoto('astronaut', 6));

    assert.ok(codes(inspection).includes('too_blurry'), codes(inspection).join(', '));
    assert.deepEqual(codes(inspection), ['no_face', 'too_blurry']);
  });

  it('rejects astronaut blurred with sigma 2.5 as too_blurry', async () => {
    const inspection = await inspect(gate, await blurredPhoto('astronaut', 2.5));

    assert.deepEqual(codes(inspection), ['too_blurry']);
    assert.notEqual(inspection.faceBox, null, 'the face is still found at sigma 2.5');
  });

  it('accepts astronaut blurred with sigma 1', async () => {
    const inspection = await inspect(gate, await blurredPhoto('astronaut', 1));

    assert.deepEqual(inspection.rejections, []);
  });

  it('rejects a small face on a large canvas as face_too_small', async () => {
    const inspection = await inspect(gate, await smallFacePhoto('astronaut', 256, 1024));

    assert.deepEqual(codes(inspection), ['face_too_small']);
    const box = inspection.faceBox!;
    assert.ok(box.x > 384, `box ${JSON.stringify(box)} in pixels of the 1024 canvas`);
    assert.ok(box.x + box.width < 640, `box ${JSON.stringify(box)} in pixels of the 1024 canvas`);
  });

  it('reports face boxes in pixels of large photos', async () => {
    const large = await sharp(fixturePhoto('astronaut')).resize(2048).png().toBuffer();
    const inspection = await inspect(gate, large);
    const box = inspection.faceBox!;

    assert.deepEqual(inspection.rejections, []);
    // Four times the box in the 512-pixel original, within a few pixels.
    assert.ok(Math.abs(box.x - astronaut.faceBox!.x * 4) < 24, `x ${box.x} vs ${astronaut.faceBox!.x * 4}`);
    assert.ok(Math.abs(box.width - astronaut.faceBox!.width * 4) < 24, `width ${box.width} vs ${astronaut.faceBox!.width * 4}`);
  });

  it('analyses photos in parallel', async () => {
    const results = await Promise.all(['astronaut', 'camera', 'coffee', 'chelsea'].map((name) => inspect(gate, fixturePhoto(name as 'astronaut'))));

    assert.deepEqual(results.map(codes), [[], [], ['no_face'], ['no_face']]);
  });

  it('fails on bytes that are not an image', async () => {
    await assert.rejects(inspect(gate, Buffer.from('not an image')));
  });
});

describe('face analysis pool', () => {
  it('rejects photos past its queue with service_unavailable', async () => {
    const pool = new FaceAnalysisPool({ threads: 1, maxQueuedPhotos: 1 });
    try {
      // The thread is still loading its models while all three photos arrive, so one waits and two
      // find the queue full.
      const outcomes = await Promise.allSettled([1, 2, 3].map(() => pool.analyze(fixturePhoto('coffee'))));
      const rejected = outcomes.filter((outcome) => outcome.status === 'rejected');

      assert.ok(outcomes.some((outcome) => outcome.status === 'fulfilled'));
      assert.ok(rejected.length >= 1);
      for (const outcome of rejected) {
        const reason = (outcome as PromiseRejectedResult).reason;
        assert.ok(isAppError(reason), String(reason));
        assert.equal(reason.code, 'service_unavailable');
      }
    } finally {
      await pool.close();
    }
  });

  it('replaces a thread that stops', async () => {
    const pool = new FaceAnalysisPool({ threads: 1 });
    try {
      await pool.analyze(fixturePhoto('coffee'));
      // Stop the thread from outside while it analyses, as a crash would.
      const workers = (pool as unknown as { workers: Set<{ worker: { terminate(): Promise<number> }; task: unknown }> }).workers;
      const interrupted = assert.rejects(pool.analyze(fixturePhoto('astronaut')), /thread stopped/);
      while ([...workers].every((entry) => entry.task === null)) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      await [...workers][0]!.worker.terminate();
      await interrupted;

      const next = await pool.analyze(fixturePhoto('astronaut'));

      assert.equal(next.faces.length, 1);
    } finally {
      await pool.close();
    }
  });

  it('fails waiting photos when closed', async () => {
    const pool = new FaceAnalysisPool({ threads: 1 });
    const pending = assert.rejects(pool.analyze(fixturePhoto('coffee')), /closed/);
    // Usually the photo is decoded and waiting by now; one still decoding fails the same way.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await pool.close();

    await pending;
    await assert.rejects(pool.analyze(fixturePhoto('coffee')), /closed/);
  });
});
