import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QUALITY_CHECKS } from '../../src/domain/photos/quality-gate.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { fixturePhoto } from '../helpers/photos.js';

// The container builds the gate that the configuration selects.

for (const kind of DATABASE_KINDS) {
  describe(`quality gate wiring on ${kind.name}`, { skip: kind.skip }, () => {
    let enabled: TestContext;
    let disabled: TestContext;

    before(async () => {
      enabled = await createTestContext(kind, { env: { QUALITY_GATE_ENABLED: 'true', QUALITY_GATE_THREADS: '1', QUALITY_GATE_SKIP_CHECKS: 'duplicates' } });
      disabled = await createTestContext(kind, { env: { QUALITY_GATE_ENABLED: 'false' } });
    });
    after(async () => {
      await enabled?.close();
      await disabled?.close();
    });

    it('runs the face checks when enabled', async () => {
      const inspection = await enabled.container.qualityGate.inspect({ image: fixturePhoto('coffee'), width: 600, height: 400, acceptedPhotos: [] });

      assert.deepEqual(inspection.rejections.map((rejection) => rejection.code), ['no_face']);
      assert.deepEqual(inspection.skippedChecks, ['duplicates', 'same_person']);
    });

    it('accepts everything when disabled', async () => {
      const inspection = await disabled.container.qualityGate.inspect({ image: fixturePhoto('coffee'), width: 600, height: 400, acceptedPhotos: [] });

      assert.deepEqual(inspection.rejections, []);
      assert.deepEqual(inspection.skippedChecks, [...QUALITY_CHECKS]);
    });
  });
}
