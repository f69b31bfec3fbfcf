import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DetectedFace, FaceAnalysis } from '../../src/adapters/faces/face-analyzer.js';
import type { FaceAnalyzer } from '../../src/adapters/faces/face-analyzer.js';
import {
  euclideanDistance,
  FaceQualityGate,
  hammingDistance,
  judgePhoto,
  type QualityGateSettings,
} from '../../src/domain/photos/face-quality-gate.js';
import type { AcceptedPhoto } from '../../src/domain/photos/quality-gate.js';

// The rules on hand-made analyses: what the gate decides for given measurements, without the models.

const SETTINGS: QualityGateSettings = {
  skippedChecks: [],
  minFaceSize: 0.1,
  minSharpness: 0.012,
  duplicateMaxDistance: 10,
  samePersonMaxDistance: 0.6,
};

function face(overrides: Partial<DetectedFace> = {}): DetectedFace {
  return { box: { x: 180, y: 70, width: 84, height: 102 }, score: 0.96, sharpness: 0.17, ...overrides };
}

/** Builds a descriptor whose distance to `descriptor(0)` is exactly `offset`. */
function descriptor(offset: number): number[] {
  return Array.from({ length: 128 }, (_, index) => (index === 0 ? offset : 0));
}

function analysis(overrides: Partial<FaceAnalysis> = {}): FaceAnalysis {
  return {
    width: 512,
    height: 512,
    faces: [face()],
    unconfirmedFaceCount: 0,
    faceDescriptor: descriptor(0),
    imageSharpness: 0.15,
    perceptualHash: 'c2924c5532bddfc8',
    mirroredPerceptualHash: '97c7191867e88a9d',
    ...overrides,
  };
}

function accepted(id: string, overrides: Partial<AcceptedPhoto> = {}): AcceptedPhoto {
  return { id, perceptualHash: '0000000000000000', faceDescriptor: descriptor(0), ...overrides };
}

function codes(result: ReturnType<typeof judgePhoto>): string[] {
  return result.rejections.map((rejection) => rejection.code);
}

describe('quality gate rules', () => {
  it('accepts one sharp, large, new face', () => {
    const result = judgePhoto(analysis(), [accepted('p1')], SETTINGS);

    assert.deepEqual(result.rejections, []);
    assert.deepEqual(result.faceBox, { x: 180, y: 70, width: 84, height: 102 });
    assert.equal(result.faceDescriptor?.length, 128);
    assert.equal(result.perceptualHash, 'c2924c5532bddfc8');
    assert.deepEqual(result.skippedChecks, []);
  });

  it('rejects a photo without a face', () => {
    const result = judgePhoto(analysis({ faces: [], faceDescriptor: null }), [], SETTINGS);

    assert.deepEqual(codes(result), ['no_face']);
    assert.equal(result.faceBox, null);
    assert.deepEqual(result.skippedChecks, ['same_person']);
  });

  it('treats unconfirmed faces as no face', () => {
    const result = judgePhoto(analysis({ faces: [], unconfirmedFaceCount: 1, faceDescriptor: null }), [], SETTINGS);

    assert.deepEqual(codes(result), ['no_face']);
  });

  it('rejects several faces and names the count', () => {
    const result = judgePhoto(analysis({ faces: [face(), face({ box: { x: 700, y: 60, width: 80, height: 100 } })], faceDescriptor: null }), [], SETTINGS);

    assert.deepEqual(codes(result), ['multiple_faces']);
    assert.match(result.rejections[0]!.message, /2 faces/);
    assert.equal(result.faceBox, null);
    assert.equal(result.faceDescriptor, null);
  });

  it('rejects a face below the minimum size', () => {
    const small = face({ box: { x: 500, y: 500, width: 40, height: 50 } });
    const result = judgePhoto(analysis({ width: 1024, height: 1024, faces: [small] }), [], SETTINGS);

    assert.deepEqual(codes(result), ['face_too_small']);
    assert.match(result.rejections[0]!.message, /5% of the frame.*10%/);
  });

  it('measures face size against the shorter side', () => {
    const wide = analysis({ width: 2000, height: 600, faces: [face({ box: { x: 0, y: 0, width: 50, height: 61 } })] });

    assert.deepEqual(codes(judgePhoto(wide, [], SETTINGS)), []);
  });

  it('judges blur on the face when there is one', () => {
    const blurredFace = analysis({ faces: [face({ sharpness: 0.004 })], imageSharpness: 0.2 });
    const sharpFaceBlurredBackground = analysis({ faces: [face({ sharpness: 0.1 })], imageSharpness: 0.001 });

    assert.deepEqual(codes(judgePhoto(blurredFace, [], SETTINGS)), ['too_blurry']);
    assert.deepEqual(codes(judgePhoto(sharpFaceBlurredBackground, [], SETTINGS)), []);
  });

  it('judges blur on the whole photo without a face', () => {
    const result = judgePhoto(analysis({ faces: [], faceDescriptor: null, imageSharpness: 0.0003 }), [], SETTINGS);

    assert.deepEqual(codes(result), ['no_face', 'too_blurry']);
  });

  it('names the photo a duplicate repeats', () => {
    const result = judgePhoto(analysis(), [accepted('p1'), accepted('p2', { perceptualHash: 'c2924c5532bddfc9' })], SETTINGS);

    assert.deepEqual(codes(result), ['duplicate_photo']);
    assert.equal(result.rejections[0]!.photoId, 'p2');
    assert.match(result.rejections[0]!.message, /photo p2/);
  });

  it('matches a mirrored duplicate', () => {
    const result = judgePhoto(analysis(), [accepted('p1', { perceptualHash: '97c7191867e88a9d' })], SETTINGS);

    assert.deepEqual(codes(result), ['duplicate_photo']);
  });

  it('allows hashes just past the duplicate limit', () => {
    // The last three hex digits XOR 0x7ff: 11 bits changed.
    const hash = 'c2924c5532bdd837';
    assert.equal(hammingDistance(hash, 'c2924c5532bddfc8'), 11);

    const result = judgePhoto(analysis(), [accepted('p1', { perceptualHash: hash })], SETTINGS);

    assert.deepEqual(codes(result), []);
  });

  it('rejects a different person and names the photo', () => {
    const result = judgePhoto(analysis(), [accepted('p1', { faceDescriptor: descriptor(0.87) })], SETTINGS);

    assert.deepEqual(codes(result), ['different_person']);
    assert.equal(result.rejections[0]!.photoId, 'p1');
    assert.match(result.rejections[0]!.message, /photo p1/);
  });

  it('accepts a face near half of the job', () => {
    const job = [accepted('p1', { faceDescriptor: descriptor(0.65) }), accepted('p2', { faceDescriptor: descriptor(0.3) })];

    assert.deepEqual(codes(judgePhoto(analysis(), job, SETTINGS)), []);
  });

  it('rejects a face far from most of the job, naming the furthest', () => {
    const job = [
      accepted('p1', { faceDescriptor: descriptor(0.7) }),
      accepted('p2', { faceDescriptor: descriptor(0.9) }),
      accepted('p3', { faceDescriptor: descriptor(0.2) }),
    ];
    const result = judgePhoto(analysis(), job, SETTINGS);

    assert.deepEqual(codes(result), ['different_person']);
    assert.equal(result.rejections[0]!.photoId, 'p2');
  });

  it('ignores accepted photos without stored values', () => {
    const result = judgePhoto(analysis(), [accepted('p1', { perceptualHash: null, faceDescriptor: null })], SETTINGS);

    assert.deepEqual(result.rejections, []);
  });

  it('lists every reason that applies', () => {
    const small = face({ box: { x: 10, y: 10, width: 30, height: 30 }, sharpness: 0.001 });
    const result = judgePhoto(
      analysis({ faces: [small, face({ box: { x: 400, y: 400, width: 20, height: 20 } })], faceDescriptor: null }),
      [accepted('p1', { perceptualHash: 'c2924c5532bddfc8' })],
      SETTINGS,
    );

    assert.deepEqual(codes(result), ['multiple_faces', 'face_too_small', 'too_blurry', 'duplicate_photo']);
  });

  it('skips the checks configuration turns off', () => {
    const settings = { ...SETTINGS, skippedChecks: ['faces', 'blur', 'duplicates', 'same_person'] as QualityGateSettings['skippedChecks'] };
    const result = judgePhoto(analysis({ faces: [], faceDescriptor: null, imageSharpness: 0 }), [accepted('p1', { perceptualHash: 'c2924c5532bddfc8' })], settings);

    assert.deepEqual(result.rejections, []);
    assert.deepEqual(result.skippedChecks, ['faces', 'blur', 'duplicates', 'same_person']);
    assert.equal(result.perceptualHash, 'c2924c5532bddfc8');
  });

  it('skips one check and runs the others', () => {
    const settings: QualityGateSettings = { ...SETTINGS, skippedChecks: ['same_person'] };
    const result = judgePhoto(analysis({ faces: [face({ sharpness: 0.001 })] }), [accepted('p1', { faceDescriptor: descriptor(1) })], settings);

    assert.deepEqual(codes(result), ['too_blurry']);
    assert.deepEqual(result.skippedChecks, ['same_person']);
  });
});

describe('comparison when a photo is recorded', () => {
  const unusedAnalyzer: FaceAnalyzer = {
    analyze: () => Promise.reject(new Error('the comparison must not analyse images')),
    close: async () => undefined,
  };

  it('finds a duplicate accepted since the inspection', () => {
    const gate = new FaceQualityGate(unusedAnalyzer, SETTINGS);
    const inspection = judgePhoto(analysis(), [], SETTINGS);

    const rejections = gate.compareWithJobPhotos(inspection, [accepted('p1', { perceptualHash: '97c7191867e88a9d' })]);

    assert.deepEqual(
      rejections.map((rejection) => [rejection.code, rejection.photoId]),
      [['duplicate_photo', 'p1']],
    );
  });

  it('finds a different person accepted since the inspection', () => {
    const gate = new FaceQualityGate(unusedAnalyzer, SETTINGS);
    const inspection = judgePhoto(analysis(), [], SETTINGS);

    const rejections = gate.compareWithJobPhotos(inspection, [accepted('p1', { faceDescriptor: descriptor(0.87) })]);

    assert.deepEqual(
      rejections.map((rejection) => [rejection.code, rejection.photoId]),
      [['different_person', 'p1']],
    );
  });

  it('leaves skipped checks skipped', () => {
    const settings: QualityGateSettings = { ...SETTINGS, skippedChecks: ['duplicates'] };
    const gate = new FaceQualityGate(unusedAnalyzer, settings);
    const withoutFace = judgePhoto(analysis({ faces: [], faceDescriptor: null }), [], settings);
    const job = [accepted('p1', { perceptualHash: 'c2924c5532bddfc8', faceDescriptor: descriptor(0.87) })];

    assert.deepEqual(withoutFace.skippedChecks, ['duplicates', 'same_person']);
    assert.deepEqual(gate.compareWithJobPhotos(withoutFace, job), []);
  });
});

describe('distances', () => {
  it('counts differing bits of hex hashes', () => {
    assert.equal(hammingDistance('0000000000000000', '0000000000000000'), 0);
    assert.equal(hammingDistance('0000000000000000', 'ffffffffffffffff'), 64);
    assert.equal(hammingDistance('8000000000000001', '0000000000000000'), 2);
  });

  it('treats hashes of different lengths as far apart', () => {
    assert.equal(hammingDistance('00', '0000'), Number.POSITIVE_INFINITY);
  });

  it('computes Euclidean distance', () => {
    assert.equal(euclideanDistance([0, 3], [4, 0]), 5);
    assert.equal(euclideanDistance([1], [1, 2]), Number.POSITIVE_INFINITY);
  });
});
