import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCatalogDocument, parseCatalogDocument } from '../../src/domain/packs/catalog-document.js';

const PACK_PATH = 'CONFIGS/prompt_configs/packs/neon';

/** Builds a valid pack document; tests override single fields. */
function packFields(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'display-name': 'Neonpunk',
    is_active: true,
    featured: true,
    featured_thumbnail: 'https://example.com/neon_1.png',
    num_images_per_prompt: 2,
    num_prompts: 2,
    'secondary-thumbnail-images': ['https://example.com/neon_1.png', 'https://example.com/neon_2.png'],
    thumbnail: 'https://example.com/Neonpunk.png',
    prompts: ['a neon portrait of the person', { prompt: 'the person in a neon alley', negative_prompt: 'daylight' }],
    ...overrides,
  };
}

function fieldsOf(file: unknown): string[] {
  return parseCatalogDocument(file).problems.map((problem) => problem.field);
}

describe('parseCatalogDocument', () => {
  it('reads a valid pack with both prompt forms', () => {
    const parsed = parseCatalogDocument({ 'CONFIGS/prompt_configs': { negative_prompt: 'blurry' }, [PACK_PATH]: packFields() });

    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(parsed.catalog?.settings, { negative_prompt: 'blurry' });
    assert.deepEqual(parsed.catalog?.packs, [
      {
        name: 'neon',
        displayName: 'Neonpunk',
        isActive: true,
        featured: true,
        featuredThumbnail: 'https://example.com/neon_1.png',
        numImagesPerPrompt: 2,
        numPrompts: 2,
        secondaryThumbnailImages: ['https://example.com/neon_1.png', 'https://example.com/neon_2.png'],
        thumbnail: 'https://example.com/Neonpunk.png',
        prompts: [{ prompt: 'a neon portrait of the person' }, { prompt: 'the person in a neon alley', negativePrompt: 'daylight' }],
        displayOrder: 10,
        engine: null,
        extra: {},
      },
    ]);
  });

  it('gives packs without display_order their file position', () => {
    const parsed = parseCatalogDocument({
      'CONFIGS/prompt_configs/packs/b': packFields(),
      'CONFIGS/prompt_configs/packs/a': packFields({ display_order: 5 }),
      'CONFIGS/prompt_configs/packs/c': packFields(),
    });

    assert.deepEqual(
      parsed.catalog?.packs.map((pack) => [pack.name, pack.displayOrder]),
      [
        ['b', 10],
        ['a', 5],
        ['c', 30],
      ],
    );
  });

  it('keeps unknown pack fields and warns about them', () => {
    const parsed = parseCatalogDocument({ [PACK_PATH]: packFields({ 'legacy-style-id': 7 }) });

    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(parsed.catalog?.packs[0]?.extra, { 'legacy-style-id': 7 });
    assert.deepEqual(
      parsed.warnings.map((warning) => warning.field),
      [`${PACK_PATH}.legacy-style-id`],
    );
  });

  it('lets an inactive draft pack have no prompts', () => {
    const parsed = parseCatalogDocument({ [PACK_PATH]: packFields({ is_active: false, prompts: undefined }) });

    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(parsed.catalog?.packs[0]?.prompts, []);
  });

  it('rejects an active pack with too few prompts', () => {
    const parsed = parseCatalogDocument({ [PACK_PATH]: packFields({ num_prompts: 3 }) });

    assert.deepEqual(fieldsOf({ [PACK_PATH]: packFields({ num_prompts: 3 }) }), [`${PACK_PATH}.prompts`]);
    assert.match(parsed.problems[0]!.message, /2 prompts but num_prompts is 3/);
  });

  it('names each invalid field of a pack', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ 'display-name': undefined }, 'display-name'],
      [{ 'display-name': '' }, 'display-name'],
      [{ is_active: 'yes' }, 'is_active'],
      [{ featured: 1 }, 'featured'],
      [{ featured_thumbnail: undefined }, 'featured_thumbnail'],
      [{ featured_thumbnail: 'ftp://example.com/a.png' }, 'featured_thumbnail'],
      [{ num_images_per_prompt: 0 }, 'num_images_per_prompt'],
      [{ num_prompts: 'two' }, 'num_prompts'],
      [{ num_prompts: 1.5 }, 'num_prompts'],
      [{ 'secondary-thumbnail-images': 'https://example.com/a.png' }, 'secondary-thumbnail-images'],
      [{ 'secondary-thumbnail-images': ['https://example.com/a.png', 'not a url'] }, 'secondary-thumbnail-images[1]'],
      [{ thumbnail: undefined }, 'thumbnail'],
      [{ thumbnail: [] }, 'thumbnail'],
      [{ thumbnail: 42 }, 'thumbnail'],
      [{ prompts: 'one prompt' }, 'prompts'],
      [{ prompts: ['fine', ''] }, 'prompts[1].prompt'],
      [{ prompts: ['fine', { prompt: 'ok', negative_prompt: 5 }] }, 'prompts[1].negative_prompt'],
      [{ prompts: ['fine', { prompt: 'ok', weight: 2 }] }, 'prompts[1].weight'],
      [{ prompts: ['fine', 7] }, 'prompts[1]'],
      [{ display_order: 'first' }, 'display_order'],
      [{ engine: 'Not An Engine' }, 'engine'],
    ];
    for (const [overrides, field] of cases) {
      assert.deepEqual(fieldsOf({ [PACK_PATH]: packFields(overrides) }), [`${PACK_PATH}.${field}`], JSON.stringify(overrides));
    }
  });

  it('reports every problem of a file at once', () => {
    const fields = fieldsOf({
      'CONFIGS/prompt_configs': { negative_prompt: 3 },
      [PACK_PATH]: packFields({ is_active: 'yes', num_prompts: -1 }),
      'CONFIGS/prompt_configs/packs/Bad Name': packFields(),
      'CONFIGS/other': {},
      'CONFIGS/prompt_configs/packs/gta': 'not an object',
    });

    assert.deepEqual(fields, [
      'CONFIGS/prompt_configs.negative_prompt',
      `${PACK_PATH}.is_active`,
      `${PACK_PATH}.num_prompts`,
      'CONFIGS/prompt_configs/packs/Bad Name',
      'CONFIGS/other',
      'CONFIGS/prompt_configs/packs/gta',
    ]);
  });

  it('rejects a file that is not an object or is empty', () => {
    assert.deepEqual(fieldsOf([]), ['(file)']);
    assert.deepEqual(fieldsOf(null), ['(file)']);
    assert.deepEqual(fieldsOf({}), ['(file)']);
  });

  it('returns no catalog when a field is invalid', () => {
    const parsed = parseCatalogDocument({ [PACK_PATH]: packFields({ num_prompts: 0 }) });

    assert.equal(parsed.catalog, undefined);
  });
});

describe('formatCatalogDocument', () => {
  it('writes what parseCatalogDocument reads', () => {
    const file = {
      'CONFIGS/prompt_configs': { negative_prompt: 'blurry', another_setting: [1, 2] },
      'CONFIGS/prompt_configs/packs/gta': packFields({ display_order: 20, engine: 'local', 'legacy-id': 'x' }),
      [PACK_PATH]: packFields({ display_order: 10 }),
    };
    const parsed = parseCatalogDocument(file);
    const formatted = formatCatalogDocument(parsed.catalog!.settings!, parsed.catalog!.packs);

    assert.deepEqual(Object.keys(formatted), ['CONFIGS/prompt_configs', PACK_PATH, 'CONFIGS/prompt_configs/packs/gta']);
    const reparsed = parseCatalogDocument(formatted).catalog!;
    assert.deepEqual(reparsed.settings, parsed.catalog!.settings);
    assert.deepEqual(reparsed.packs, [parsed.catalog!.packs[1], parsed.catalog!.packs[0]]);
    assert.deepEqual((formatted[PACK_PATH] as Record<string, unknown>).prompts, [
      { prompt: 'a neon portrait of the person' },
      { prompt: 'the person in a neon alley', negative_prompt: 'daylight' },
    ]);
    assert.equal((formatted['CONFIGS/prompt_configs/packs/gta'] as Record<string, unknown>)['legacy-id'], 'x');
  });
});
