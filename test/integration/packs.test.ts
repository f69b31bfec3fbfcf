import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { openDatabase } from '../../src/adapters/database/database.js';
import { PacksRepository } from '../../src/adapters/database/repositories/packs-repository.js';
import { SEED_NEGATIVE_PROMPT } from '../../src/adapters/database/migrations/pack-catalog-seed.js';
import { systemClock } from '../../src/domain/clock.js';
import { PackService } from '../../src/domain/packs/pack-service.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import {
  type CatalogFile,
  PACKS_INFO_EXAMPLE,
  PACK_PATH_PREFIX,
  exportCatalog,
  getPacksInfo,
  packNames,
  waitUntil,
  withPackFields,
} from '../helpers/packs.js';

for (const kind of DATABASE_KINDS) {
  describe(`packs on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let seedExport: CatalogFile;

    before(async () => {
      context = await createTestContext(kind, { env: { PACKS_REFRESH_INTERVAL_MS: '100' } });
      seedExport = await exportCatalog(context);
    });
    after(async () => context?.close());
    // Tests that change the catalog leave it as seeded for the next one.
    afterEach(async () => {
      await context.container.packs.importCatalog(seedExport, { replace: true });
    });

    it('serves the contract example on a fresh database', async () => {
      const { response, body } = await getPacksInfo(context);

      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['content-type'], 'application/json; charset=utf-8');
      assert.deepEqual(Object.keys(body), ['featuredPacks', 'packs']);
      for (const list of ['featuredPacks', 'packs'] as const) {
        assert.equal(body[list].length, PACKS_INFO_EXAMPLE[list].length, `${list} length`);
        PACKS_INFO_EXAMPLE[list].forEach((expected, index) => {
          assert.deepEqual(Object.keys(body[list][index]!), Object.keys(expected), `${list}[${index}] keys`);
          for (const [field, value] of Object.entries(expected)) {
            assert.deepEqual(body[list][index]![field], value, `${list}[${index}].${field}`);
          }
        });
      }
    });

    it('needs no token', async () => {
      const response = await context.app.inject({ method: 'GET', url: '/packs-info', headers: { authorization: 'Bearer not-a-token' } });

      assert.equal(response.statusCode, 200);
    });

    it('answers 304 to a current ETag', async () => {
      const { response } = await getPacksInfo(context);
      const etag = String(response.headers.etag);

      for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
        const revalidation = await context.app.inject({ method: 'GET', url: '/packs-info', headers: { 'if-none-match': ifNoneMatch } });
        assert.equal(revalidation.statusCode, 304, ifNoneMatch);
        assert.equal(revalidation.body, '', ifNoneMatch);
        assert.equal(revalidation.headers.etag, etag, ifNoneMatch);
      }
      assert.match(etag, /^"[^"]+"$/);
      assert.equal(response.headers['cache-control'], 'no-cache');
    });

    it('answers 200 to an outdated ETag', async () => {
      const response = await context.app.inject({ method: 'GET', url: '/packs-info', headers: { 'if-none-match': '"outdated"' } });

      assert.equal(response.statusCode, 200);
      assert.equal(response.json().packs.length, 12);
    });

    it('answers HEAD with headers only', async () => {
      const { response } = await getPacksInfo(context);
      const head = await context.app.inject({ method: 'HEAD', url: '/packs-info' });

      assert.equal(head.statusCode, 200);
      assert.equal(head.body, '');
      assert.equal(head.headers.etag, response.headers.etag);
      assert.equal(head.headers['content-length'], response.headers['content-length']);
    });

    it('leaves an inactive pack out', async () => {
      const before = await getPacksInfo(context);

      await context.container.packs.importCatalog(withPackFields(seedExport, 'neon', { is_active: false }), { replace: false });
      const afterChange = await getPacksInfo(context);
      const revalidation = await context.app.inject({
        method: 'GET',
        url: '/packs-info',
        headers: { 'if-none-match': String(before.response.headers.etag) },
      });

      assert.ok(!packNames(afterChange.body.packs).includes('neon'));
      assert.deepEqual(packNames(afterChange.body.featuredPacks), ['gta', 'historical', 'fashion']);
      assert.equal(afterChange.body.packs.length, 11);
      assert.notEqual(afterChange.response.headers.etag, before.response.headers.etag);
      assert.equal(revalidation.statusCode, 200);
    });

    it('exports the seed in the file layout', () => {
      const paths = Object.keys(seedExport);
      const neon = seedExport[`${PACK_PATH_PREFIX}neon`]!;

      assert.equal(paths[0], 'CONFIGS/prompt_configs');
      assert.deepEqual(
        paths.slice(1),
        PACKS_INFO_EXAMPLE.packs.map((pack) => `${PACK_PATH_PREFIX}${String(pack.pack_name)}`),
      );
      assert.deepEqual(seedExport['CONFIGS/prompt_configs'], { negative_prompt: SEED_NEGATIVE_PROMPT });
      assert.equal(neon['display-name'], 'Neonpunk');
      assert.equal(neon.is_active, true);
      assert.equal(neon.featured, true);
      assert.equal(neon.featured_thumbnail, 'https://storage.googleapis.com/jetrr-public/single-pack-images-v1/neon_1.png');
      assert.equal((neon.prompts as unknown[]).length, neon.num_prompts);
    });

    it('round-trips an export through a fresh database', async () => {
      const edited = withPackFields(seedExport, 'gta', {
        'display-name': 'GTA Remix',
        engine: 'local',
        prompts: [{ prompt: 'the person in a remix scene', negative_prompt: 'daylight' }, { prompt: 'the person on a boat' }],
        num_prompts: 2,
        'legacy-style-id': 'gta-v2',
      });
      const other = await createTestContext(kind);
      try {
        const result = await other.container.packs.importCatalog(edited, { replace: true });
        const exported = await exportCatalog(other);
        const { body } = await getPacksInfo(other);

        assert.deepEqual(result.updated, ['gta']);
        assert.deepEqual(result.warnings.map((warning) => warning.field), [`${PACK_PATH_PREFIX}gta.legacy-style-id`]);
        assert.deepEqual(exported, edited);
        assert.deepEqual(JSON.stringify(exported), JSON.stringify(edited));
        assert.equal(body.packs.find((pack) => pack.pack_name === 'gta')?.display_name, 'GTA Remix');
      } finally {
        await other.close();
      }
    });

    it('keeps packs missing from the file unless replacing', async () => {
      const onlyNeon: CatalogFile = { [`${PACK_PATH_PREFIX}neon`]: seedExport[`${PACK_PATH_PREFIX}neon`]! };

      const merged = await context.container.packs.importCatalog(onlyNeon, { replace: false });
      const countAfterMerge = (await getPacksInfo(context)).body.packs.length;
      const replaced = await context.container.packs.importCatalog(onlyNeon, { replace: true });
      const { body } = await getPacksInfo(context);

      assert.deepEqual(merged.unchanged, ['neon']);
      assert.deepEqual(merged.removed, []);
      assert.equal(countAfterMerge, 12);
      assert.equal(replaced.removed.length, 11);
      assert.deepEqual(packNames(body.packs), ['neon']);
    });

    it('rejects a bad import and changes nothing', async () => {
      const versionBefore = await new PacksRepository(context.container.database.db).readCatalogVersion();
      const etagBefore = (await getPacksInfo(context)).response.headers.etag;
      let file = withPackFields(seedExport, 'modern', { 'display-name': 'A valid change' });
      file = withPackFields(file, 'neon', { num_prompts: 'ten' });
      file = withPackFields(file, 'gta', { thumbnail: 42, is_active: 'yes' });
      file = withPackFields(file, 'fashion', { featured_thumbnail: null });
      file = withPackFields(file, 'old', { prompts: ['fine', ''] });
      file['CONFIGS/prompt_configs/packs/Bad Name'] = {};

      const error = await context.container.packs.importCatalog(file, { replace: true }).then(
        () => assert.fail('the import was accepted'),
        (rejection: unknown) => rejection as { code: string; details: Array<{ field: string }> },
      );

      assert.equal(error.code, 'invalid_pack_catalog');
      assert.deepEqual(error.details.map((detail) => detail.field).sort(), [
        'CONFIGS/prompt_configs/packs/Bad Name',
        `${PACK_PATH_PREFIX}fashion.featured_thumbnail`,
        `${PACK_PATH_PREFIX}gta.is_active`,
        `${PACK_PATH_PREFIX}gta.thumbnail`,
        `${PACK_PATH_PREFIX}neon.num_prompts`,
        `${PACK_PATH_PREFIX}old.prompts[1].prompt`,
      ]);
      assert.deepEqual(await exportCatalog(context), seedExport);
      assert.equal(await new PacksRepository(context.container.database.db).readCatalogVersion(), versionBefore);
      assert.equal((await getPacksInfo(context)).response.headers.etag, etagBefore);
    });

    it('raises the version only when something changed', async () => {
      const repository = new PacksRepository(context.container.database.db);
      const before = await repository.readCatalogVersion();
      const cached = await context.container.packs.publicCatalog.get();

      const unchanged = await context.container.packs.importCatalog(seedExport, { replace: true });
      const cachedAfterUnchanged = context.container.packs.publicCatalog.current;
      const changed = await context.container.packs.importCatalog(withPackFields(seedExport, 'old', { num_images_per_prompt: 3 }), {
        replace: false,
      });

      assert.equal(unchanged.version, before);
      assert.equal(unchanged.changed, false);
      assert.equal(cachedAfterUnchanged, cached);
      assert.equal(changed.changed, true);
      assert.equal(changed.version, before + 1);
      assert.equal(await repository.readCatalogVersion(), before + 1);
    });

    it('picks up a change made through another connection', async () => {
      await getPacksInfo(context);
      const otherConnection = openDatabase(context.config.databaseUrl);
      try {
        // A second service on its own connection stands for another API process or host.
        const otherProcess = new PackService(new PacksRepository(otherConnection.db), systemClock, context.config.packs);
        await otherProcess.importCatalog(withPackFields(seedExport, 'fashion', { is_active: false }), { replace: false });

        await waitUntil('the cached catalog drops fashion', async () => {
          const { body } = await getPacksInfo(context);
          return !packNames(body.packs).includes('fashion');
        });
        assert.deepEqual(packNames((await getPacksInfo(context)).body.featuredPacks), ['neon', 'gta', 'historical']);
      } finally {
        await otherConnection.close();
      }
    });

    describe('pack lookup for generation', () => {
      it('returns a seeded pack ready to run', async () => {
        const pack = await context.container.packs.findPackForGeneration('headshots');

        assert.ok(pack);
        assert.equal(pack.canRun, true);
        assert.equal(pack.cannotRunReason, null);
        assert.equal(pack.isActive, true);
        assert.equal(pack.numPrompts, 6);
        assert.equal(pack.numImagesPerPrompt, 3);
        assert.equal(pack.promptsForRun.length, 6);
        assert.equal(pack.engine, null);
        assert.ok(pack.promptsForRun.every((prompt) => prompt.negativePrompt === SEED_NEGATIVE_PROMPT));
      });

      it('uses the first num_prompts prompts and their own negative prompts', async () => {
        await context.container.packs.importCatalog(
          withPackFields(seedExport, 'neon', {
            num_prompts: 2,
            engine: 'local',
            prompts: [{ prompt: 'first', negative_prompt: 'own' }, 'second', 'third'],
          }),
          { replace: false },
        );

        const pack = await context.container.packs.findPackForGeneration('neon');

        assert.deepEqual(pack?.promptsForRun, [
          { prompt: 'first', negativePrompt: 'own' },
          { prompt: 'second', negativePrompt: SEED_NEGATIVE_PROMPT },
        ]);
        assert.equal(pack?.engine, 'local');
      });

      it('says why an inactive pack cannot run', async () => {
        await context.container.packs.importCatalog(withPackFields(seedExport, 'old', { is_active: false, prompts: [] }), {
          replace: false,
        });

        const pack = await context.container.packs.findPackForGeneration('old');

        assert.equal(pack?.canRun, false);
        assert.equal(pack?.cannotRunReason, 'the pack is inactive');
        assert.deepEqual(pack?.promptsForRun, []);
      });

      it('returns null for an unknown pack', async () => {
        assert.equal(await context.container.packs.findPackForGeneration('no-such-pack'), null);
      });
    });
  });
}
