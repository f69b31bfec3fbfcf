import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const BASE = { NODE_ENV: 'test', JWT_SECRET: 'a-test-secret-that-is-at-least-32-bytes' };

describe('quality gate configuration', () => {
  it('has documented defaults', () => {
    const { qualityGate } = loadConfig(BASE);

    assert.equal(qualityGate.enabled, true);
    assert.ok(qualityGate.threads >= 1);
    assert.ok(qualityGate.threads <= 4);
    assert.deepEqual(qualityGate.skippedChecks, []);
    assert.equal(qualityGate.minFaceSize, 0.1);
    assert.equal(qualityGate.minSharpness, 0.012);
    assert.equal(qualityGate.duplicateMaxDistance, 10);
    assert.equal(qualityGate.samePersonMaxDistance, 0.6);
  });

  it('reads every variable', () => {
    const { qualityGate } = loadConfig({
      ...BASE,
      QUALITY_GATE_ENABLED: 'false',
      QUALITY_GATE_THREADS: '3',
      QUALITY_GATE_SKIP_CHECKS: 'same_person, duplicates,same_person',
      QUALITY_MIN_FACE_SIZE: '0.2',
      QUALITY_MIN_SHARPNESS: '0.05',
      QUALITY_DUPLICATE_MAX_BITS: '6',
      QUALITY_SAME_PERSON_MAX_DISTANCE: '0.5',
    });

    assert.deepEqual(qualityGate, {
      enabled: false,
      threads: 3,
      skippedChecks: ['same_person', 'duplicates'],
      minFaceSize: 0.2,
      minSharpness: 0.05,
      duplicateMaxDistance: 6,
      samePersonMaxDistance: 0.5,
    });
  });

  it('reports every invalid variable', () => {
    assert.throws(
      () =>
        loadConfig({
          ...BASE,
          QUALITY_GATE_ENABLED: 'maybe',
          QUALITY_GATE_THREADS: '0',
          QUALITY_GATE_SKIP_CHECKS: 'faces,colour',
          QUALITY_MIN_FACE_SIZE: '1.5',
          QUALITY_MIN_SHARPNESS: '-1',
          QUALITY_DUPLICATE_MAX_BITS: '65',
          QUALITY_SAME_PERSON_MAX_DISTANCE: 'close',
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        for (const name of [
          'QUALITY_GATE_ENABLED',
          'QUALITY_GATE_THREADS',
          'QUALITY_GATE_SKIP_CHECKS',
          'QUALITY_MIN_FACE_SIZE',
          'QUALITY_MIN_SHARPNESS',
          'QUALITY_DUPLICATE_MAX_BITS',
          'QUALITY_SAME_PERSON_MAX_DISTANCE',
        ]) {
          assert.ok(error.problems.some((problem) => problem.startsWith(name)), `${name} in ${error.problems.join('; ')}`);
        }
        assert.ok(error.problems.some((problem) => problem.includes('"colour"')));
        return true;
      },
    );
  });
});
