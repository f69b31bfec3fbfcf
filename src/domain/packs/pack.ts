/** One prompt of a pack. A run renders `numImagesPerPrompt` images from each of the first `numPrompts`. */
export interface PackPrompt {
  prompt: string;
  /** Overrides the catalog's shared `negative_prompt` for this prompt. */
  negativePrompt?: string;
}

/** A style pack as stored: the `CONFIGS/prompt_configs/packs/<pack_name>` document of the original app. */
export interface PackDefinition {
  name: string;
  displayName: string;
  /** Inactive packs stay in the database but are left out of /packs-info and cannot run. */
  isActive: boolean;
  featured: boolean;
  featuredThumbnail: string | null;
  numImagesPerPrompt: number;
  numPrompts: number;
  secondaryThumbnailImages: string[];
  /** A URL or a list of URLs; the app handles both, so it is returned as stored. */
  thumbnail: string | string[];
  prompts: PackPrompt[];
  /** Packs are listed by ascending display order, then by name. */
  displayOrder: number;
  /** Generation engine for this pack; null means the server's default engine. */
  engine: string | null;
  /** Further fields of the imported document that the server does not use, kept for export. */
  extra: Record<string, unknown>;
}

/**
 * Settings shared by all packs: the `CONFIGS/prompt_configs` document. `negative_prompt` is the one field
 * the server reads; every other field is kept as imported and written back on export.
 */
export type CatalogSettings = Record<string, unknown>;

/** Sorts packs the way every list shows them: by display order, then by name (code-point order on both databases). */
export function sortPacksForDisplay<T extends Pick<PackDefinition, 'displayOrder' | 'name'>>(packs: T[]): T[] {
  return [...packs].sort((left, right) => {
    if (left.displayOrder !== right.displayOrder) {
      return left.displayOrder - right.displayOrder;
    }
    if (left.name === right.name) {
      return 0;
    }
    return left.name < right.name ? -1 : 1;
  });
}

/**
 * Returns why a pack cannot run, or null when it can: it must be active, ask for at least one prompt and one
 * image per prompt, and have at least `numPrompts` prompts.
 */
export function reasonPackCannotRun(pack: Pick<PackDefinition, 'isActive' | 'numPrompts' | 'numImagesPerPrompt' | 'prompts'>): string | null {
  if (!pack.isActive) {
    return 'the pack is inactive';
  }
  if (pack.numPrompts < 1 || pack.numImagesPerPrompt < 1) {
    return 'num_prompts and num_images_per_prompt must both be at least 1';
  }
  if (pack.prompts.length < pack.numPrompts) {
    return `the pack has ${pack.prompts.length} prompts but num_prompts is ${pack.numPrompts}`;
  }
  return null;
}
