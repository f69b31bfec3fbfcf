import { createHash } from 'node:crypto';
import { type PackDefinition, sortPacksForDisplay } from './pack.js';

/** The pack fields that /packs-info shows. */
export type PublicPackFields = Pick<
  PackDefinition,
  'name' | 'displayName' | 'isActive' | 'featured' | 'featuredThumbnail' | 'thumbnail' | 'secondaryThumbnailImages' | 'displayOrder'
>;

/** The /packs-info response, serialized once per catalog version. */
export interface PublicCatalog {
  /** UTF-8 JSON bytes of `{ featuredPacks, packs }`. */
  body: Buffer;
  /** `body.length` as text, ready for the Content-Length header. */
  contentLength: string;
  /** Strong ETag: a SHA-256 of `body`, so equal bytes get equal tags in every process. */
  etag: string;
  /** The catalog version the packs were read at. */
  version: number;
}

/**
 * Builds the /packs-info body: active packs in display order, and the featured ones among them again with
 * their `featured_thumbnail`. Keys are in the order of the client contract's example.
 */
export function buildPublicCatalog(packs: PublicPackFields[], version: number): PublicCatalog {
  const active = sortPacksForDisplay(packs.filter((pack) => pack.isActive));

  // The import rejects a featured pack without featured_thumbnail. One edited into the database by hand
  // is left out of featuredPacks, because the app does not expect a null there.
  const featuredPacks = active
    .filter((pack) => pack.featured && pack.featuredThumbnail !== null)
    .map((pack) => ({
      display_name: pack.displayName,
      featured_thumbnail: pack.featuredThumbnail,
      pack_name: pack.name,
      thumbnail: pack.thumbnail,
      thumbnail_images: pack.secondaryThumbnailImages,
    }));
  const listedPacks = active.map((pack) => ({
    display_name: pack.displayName,
    pack_name: pack.name,
    thumbnail: pack.thumbnail,
    thumbnail_images: pack.secondaryThumbnailImages,
  }));

  const body = Buffer.from(JSON.stringify({ featuredPacks, packs: listedPacks }), 'utf8');
  const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
  return { body, contentLength: String(body.length), etag, version };
}

/**
 * Tells whether an If-None-Match header matches `etag`. RFC 9110 section 13.1.2 compares weakly here, so
 * `W/"x"` matches `"x"`, and `*` matches any current representation.
 */
export function ifNoneMatchMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) {
    return false;
  }
  const opaqueTag = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const candidate of header.split(',')) {
    const tag = candidate.trim();
    if (tag === '*' || tag === opaqueTag || tag === `W/${opaqueTag}`) {
      return true;
    }
  }
  return false;
}
