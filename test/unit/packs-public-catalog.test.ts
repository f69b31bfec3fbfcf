import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PacksRepository } from '../../src/adapters/database/repositories/packs-repository.js';
import { type PublicPackFields, buildPublicCatalog, ifNoneMatchMatches } from '../../src/domain/packs/public-catalog.js';
import { PublicCatalogCache } from '../../src/domain/packs/public-catalog-cache.js';

function pack(name: string, overrides: Partial<PublicPackFields> = {}): PublicPackFields {
  return {
    name,
    displayName: name.toUpperCase(),
    isActive: true,
    featured: false,
    featuredThumbnail: null,
    thumbnail: `https://example.com/${name}.png`,
    secondaryThumbnailImages: [`https://example.com/${name}_1.png`],
    displayOrder: 10,
    ...overrides,
  };
}

describe('buildPublicCatalog', () => {
  it('lists active packs in display order', () => {
    const catalog = buildPublicCatalog(
      [pack('c', { displayOrder: 5 }), pack('b'), pack('a'), pack('hidden', { isActive: false })],
      1,
    );
    const body = JSON.parse(catalog.body.toString('utf8'));

    assert.deepEqual(
      body.packs.map((entry: { pack_name: string }) => entry.pack_name),
      ['c', 'a', 'b'],
    );
  });

  it('writes keys in the order of the contract example', () => {
    const catalog = buildPublicCatalog([pack('neon', { featured: true, featuredThumbnail: 'https://example.com/f.png' })], 1);
    const body = JSON.parse(catalog.body.toString('utf8'));

    assert.deepEqual(Object.keys(body), ['featuredPacks', 'packs']);
    assert.deepEqual(Object.keys(body.featuredPacks[0]), ['display_name', 'featured_thumbnail', 'pack_name', 'thumbnail', 'thumbnail_images']);
    assert.deepEqual(Object.keys(body.packs[0]), ['display_name', 'pack_name', 'thumbnail', 'thumbnail_images']);
  });

  it('leaves a featured pack without featured thumbnail out of featuredPacks', () => {
    const catalog = buildPublicCatalog([pack('neon', { featured: true })], 1);
    const body = JSON.parse(catalog.body.toString('utf8'));

    assert.deepEqual(body.featuredPacks, []);
    assert.equal(body.packs.length, 1);
  });

  it('derives the ETag from the bytes', () => {
    const first = buildPublicCatalog([pack('a')], 1);
    const sameBytes = buildPublicCatalog([pack('a')], 2);
    const otherBytes = buildPublicCatalog([pack('a', { displayName: 'Other' })], 1);

    assert.match(first.etag, /^"[A-Za-z0-9_-]{43}"$/);
    assert.equal(first.etag, sameBytes.etag);
    assert.notEqual(first.etag, otherBytes.etag);
    assert.equal(first.contentLength, String(first.body.length));
  });
});

describe('ifNoneMatchMatches', () => {
  const etag = '"abc"';
  const cases: Array<[string | undefined, boolean]> = [
    [undefined, false],
    ['', false],
    ['"abc"', true],
    ['W/"abc"', true],
    ['"x", "abc"', true],
    ['"x",W/"abc"', true],
    ['*', true],
    ['"abcd"', false],
    ['abc', false],
  ];
  for (const [header, expected] of cases) {
    it(`returns ${expected} for ${JSON.stringify(header)}`, () => {
      assert.equal(ifNoneMatchMatches(header, etag), expected);
    });
  }
});

/** A repository double whose version and packs the test sets, counting reads. */
function fakeRepository(state: { version: number; packs: PublicPackFields[] }) {
  const reads = { versions: 0, packs: 0 };
  const repository = {
    readCatalogVersion: async () => {
      reads.versions += 1;
      return state.version;
    },
    listPublicPackFields: async () => {
      reads.packs += 1;
      return state.packs;
    },
  } as unknown as PacksRepository;
  return { repository, reads };
}

describe('PublicCatalogCache', () => {
  it('shares one load between concurrent callers', async () => {
    const { repository, reads } = fakeRepository({ version: 1, packs: [pack('a')] });
    const cache = new PublicCatalogCache(repository, 1000);

    const [first, second] = await Promise.all([cache.get(), cache.get()]);

    assert.equal(first, second);
    assert.equal(reads.packs, 1);
    assert.equal(cache.current, first);
  });

  it('reloads only when the version changes', async () => {
    const state = { version: 1, packs: [pack('a')] };
    const { repository, reads } = fakeRepository(state);
    const cache = new PublicCatalogCache(repository, 1000);
    const first = await cache.get();

    assert.equal(await cache.refreshIfChanged(), false);
    assert.equal(cache.current, first);

    state.version = 2;
    state.packs = [pack('b')];
    assert.equal(await cache.refreshIfChanged(), true);
    assert.equal(cache.current?.version, 2);
    assert.match(cache.current!.body.toString('utf8'), /"pack_name":"b"/);
    assert.equal(reads.packs, 2);
  });

  it('keeps a load that began before invalidate out of the cache', async () => {
    const state = { version: 1, packs: [pack('old')] };
    const { repository } = fakeRepository(state);
    const cache = new PublicCatalogCache(repository, 1000);

    const staleLoad = cache.get();
    cache.invalidate();
    state.version = 2;
    state.packs = [pack('new')];
    await staleLoad;

    assert.equal(cache.current, undefined);
    assert.equal((await cache.get()).version, 2);
  });
});
