import { type FieldProblem, DocumentFieldReader, describeValue, isPlainObject } from './document-fields.js';
import { type CatalogSettings, type PackDefinition, type PackPrompt, reasonPackCannotRun, sortPacksForDisplay } from './pack.js';

/**
 * The pack catalog file: the original app's Firestore documents as one JSON object keyed by document path.
 *
 *   { "CONFIGS/prompt_configs": { ...settings shared by all packs },
 *     "CONFIGS/prompt_configs/packs/neon": { "display-name": "Neonpunk", "is_active": true, ... } }
 *
 * Field names are the Firestore ones, hyphens included. `prompts`, `display_order` and `engine` are this
 * server's additions to the pack document.
 */
export const SETTINGS_DOCUMENT_PATH = 'CONFIGS/prompt_configs';
export const PACK_DOCUMENT_PREFIX = `${SETTINGS_DOCUMENT_PATH}/packs/`;

export const PACK_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const ENGINE_NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

export const PACK_LIMITS = {
  displayNameLength: 100,
  promptLength: 4000,
  prompts: 500,
  numPrompts: 500,
  numImagesPerPrompt: 16,
  thumbnailImages: 50,
} as const;

/** The document fields of a pack, by the name this code uses. */
export const PACK_FIELDS = {
  displayName: 'display-name',
  isActive: 'is_active',
  featured: 'featured',
  featuredThumbnail: 'featured_thumbnail',
  numImagesPerPrompt: 'num_images_per_prompt',
  numPrompts: 'num_prompts',
  secondaryThumbnailImages: 'secondary-thumbnail-images',
  thumbnail: 'thumbnail',
  prompts: 'prompts',
  displayOrder: 'display_order',
  engine: 'engine',
} as const;

const KNOWN_PACK_FIELDS = new Set<string>(Object.values(PACK_FIELDS));

export interface CatalogDocument {
  /** Undefined when the file has no `CONFIGS/prompt_configs` document; the stored settings are then kept. */
  settings: CatalogSettings | undefined;
  packs: PackDefinition[];
}

export interface ParsedCatalogDocument {
  /** Set only when `problems` is empty. */
  catalog: CatalogDocument | undefined;
  problems: FieldProblem[];
  /** Fields that are valid but unused by the server; they are kept and exported again. */
  warnings: FieldProblem[];
}

/**
 * Validates a parsed catalog file and converts it to pack definitions. Every invalid field is reported,
 * not just the first. A pack without `display_order` gets its position among the file's packs times ten.
 */
export function parseCatalogDocument(file: unknown): ParsedCatalogDocument {
  const problems: FieldProblem[] = [];
  const warnings: FieldProblem[] = [];
  if (!isPlainObject(file)) {
    problems.push({
      field: '(file)',
      message: `must be a JSON object keyed by document path, such as "${PACK_DOCUMENT_PREFIX}neon"; got ${describeValue(file)}`,
    });
    return { catalog: undefined, problems, warnings };
  }

  let settings: CatalogSettings | undefined;
  const packs: PackDefinition[] = [];
  for (const [documentPath, fields] of Object.entries(file)) {
    if (!isPlainObject(fields)) {
      problems.push({ field: documentPath, message: `must be an object of document fields, got ${describeValue(fields)}` });
      continue;
    }
    if (documentPath === SETTINGS_DOCUMENT_PATH) {
      settings = parseSettings(fields, problems);
      continue;
    }
    const name = documentPath.startsWith(PACK_DOCUMENT_PREFIX) ? documentPath.slice(PACK_DOCUMENT_PREFIX.length) : undefined;
    if (name === undefined) {
      problems.push({
        field: documentPath,
        message: `is not a pack catalog document: use "${SETTINGS_DOCUMENT_PATH}" or "${PACK_DOCUMENT_PREFIX}<pack_name>"`,
      });
      continue;
    }
    if (!PACK_NAME_PATTERN.test(name)) {
      problems.push({
        field: documentPath,
        message: `has an invalid pack name ${describeValue(name)}: use 1 to 64 lowercase letters, digits, "_" or "-", starting with a letter or digit`,
      });
      continue;
    }
    const pack = parsePack(name, documentPath, fields, (packs.length + 1) * 10, problems, warnings);
    if (pack !== undefined) {
      packs.push(pack);
    }
  }

  if (settings === undefined && packs.length === 0 && problems.length === 0) {
    problems.push({ field: '(file)', message: 'contains no pack catalog documents' });
  }
  return { catalog: problems.length === 0 ? { settings, packs } : undefined, problems, warnings };
}

function parseSettings(fields: Record<string, unknown>, problems: FieldProblem[]): CatalogSettings {
  const reader = new DocumentFieldReader(SETTINGS_DOCUMENT_PATH, fields, problems);
  reader.string('negative_prompt', { required: false, maxLength: PACK_LIMITS.promptLength });
  return { ...fields };
}

function parsePack(
  name: string,
  documentPath: string,
  fields: Record<string, unknown>,
  defaultDisplayOrder: number,
  problems: FieldProblem[],
  warnings: FieldProblem[],
): PackDefinition | undefined {
  const problemsBefore = problems.length;
  const reader = new DocumentFieldReader(documentPath, fields, problems);

  const displayName = reader.string(PACK_FIELDS.displayName, { required: true, maxLength: PACK_LIMITS.displayNameLength });
  const isActive = reader.boolean(PACK_FIELDS.isActive, { required: true });
  const featured = reader.boolean(PACK_FIELDS.featured, { required: false }) ?? false;
  const featuredThumbnail = reader.url(PACK_FIELDS.featuredThumbnail, { required: featured });
  const numImagesPerPrompt = reader.integer(PACK_FIELDS.numImagesPerPrompt, {
    required: true,
    minimum: 1,
    maximum: PACK_LIMITS.numImagesPerPrompt,
  });
  const numPrompts = reader.integer(PACK_FIELDS.numPrompts, { required: true, minimum: 1, maximum: PACK_LIMITS.numPrompts });
  const secondaryThumbnailImages = reader.urlList(PACK_FIELDS.secondaryThumbnailImages, {
    required: true,
    minimumItems: 0,
    maximumItems: PACK_LIMITS.thumbnailImages,
  });
  const thumbnail = readThumbnail(reader, fields[PACK_FIELDS.thumbnail]);
  const prompts = readPrompts(reader, fields[PACK_FIELDS.prompts]);
  const displayOrder = reader.integer(PACK_FIELDS.displayOrder, { required: false, minimum: -1e9, maximum: 1e9 });
  const engine = readEngine(reader, fields[PACK_FIELDS.engine]);

  const extra: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(fields)) {
    if (!KNOWN_PACK_FIELDS.has(field)) {
      extra[field] = value;
      warnings.push({ field: `${documentPath}.${field}`, message: 'is not used by the server; it is kept and exported as is' });
    }
  }

  if (problems.length > problemsBefore) {
    return undefined;
  }
  const pack: PackDefinition = {
    name,
    displayName: displayName!,
    isActive: isActive!,
    featured,
    featuredThumbnail: featuredThumbnail ?? null,
    numImagesPerPrompt: numImagesPerPrompt!,
    numPrompts: numPrompts!,
    secondaryThumbnailImages: secondaryThumbnailImages!,
    thumbnail: thumbnail!,
    prompts: prompts!,
    displayOrder: displayOrder ?? defaultDisplayOrder,
    engine: engine ?? null,
    extra,
  };

  // An inactive pack may be a draft without all its prompts yet; an active one must be able to run.
  const reason = pack.isActive ? reasonPackCannotRun(pack) : null;
  if (reason !== null) {
    reader.report(PACK_FIELDS.prompts, `${reason}: an active pack needs at least num_prompts prompts, so add prompts or lower num_prompts`);
    return undefined;
  }
  return pack;
}

function readThumbnail(reader: DocumentFieldReader, value: unknown): string | string[] | undefined {
  if (value === undefined || value === null) {
    reader.report(PACK_FIELDS.thumbnail, 'is missing: add an http or https URL or a list of them');
    return undefined;
  }
  if (typeof value === 'string') {
    return reader.url(PACK_FIELDS.thumbnail, { required: true });
  }
  if (Array.isArray(value)) {
    return reader.urlList(PACK_FIELDS.thumbnail, { required: true, minimumItems: 1, maximumItems: PACK_LIMITS.thumbnailImages });
  }
  reader.report(PACK_FIELDS.thumbnail, `must be an http or https URL or a non-empty list of them, got ${describeValue(value)}`);
  return undefined;
}

/**
 * Reads `prompts`: a list whose items are a prompt string or `{ "prompt": ..., "negative_prompt"?: ... }`.
 * A missing list reads as empty, so an inactive draft needs none and an active pack gets the "needs at
 * least num_prompts prompts" problem.
 */
function readPrompts(reader: DocumentFieldReader, value: unknown): PackPrompt[] | undefined {
  const field = PACK_FIELDS.prompts;
  if (value === undefined || value === null) {
    return [];
  }
  if (!Array.isArray(value) || value.length > PACK_LIMITS.prompts) {
    reader.report(field, `must be a list of at most ${PACK_LIMITS.prompts} prompts, got ${describeValue(value)}`);
    return undefined;
  }
  const prompts: PackPrompt[] = [];
  let valid = true;
  value.forEach((item, index) => {
    const fields: Record<string, unknown> | undefined = typeof item === 'string' ? { prompt: item } : isPlainObject(item) ? item : undefined;
    if (fields === undefined) {
      reader.report(`${field}[${index}]`, `must be a prompt string or an object with "prompt", got ${describeValue(item)}`);
      valid = false;
      return;
    }
    const prompt = readPromptText(reader, `${field}[${index}].prompt`, fields.prompt, true);
    const negativePrompt = readPromptText(reader, `${field}[${index}].negative_prompt`, fields.negative_prompt, false);
    for (const key of Object.keys(fields)) {
      if (key !== 'prompt' && key !== 'negative_prompt') {
        reader.report(`${field}[${index}].${key}`, 'is not a prompt field: a prompt has only "prompt" and "negative_prompt"');
        valid = false;
      }
    }
    if (prompt === undefined || (fields.negative_prompt != null && negativePrompt === undefined)) {
      valid = false;
      return;
    }
    prompts.push(negativePrompt === undefined ? { prompt } : { prompt, negativePrompt });
  });
  return valid ? prompts : undefined;
}

function readPromptText(reader: DocumentFieldReader, field: string, value: unknown, required: boolean): string | undefined {
  if ((value === undefined || value === null) && !required) {
    return undefined;
  }
  if (typeof value !== 'string' || value.trim() === '' || value.length > PACK_LIMITS.promptLength) {
    reader.report(field, `must be text of 1 to ${PACK_LIMITS.promptLength} characters, got ${describeValue(value)}`);
    return undefined;
  }
  return value;
}

function readEngine(reader: DocumentFieldReader, value: unknown): string | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'string' || !ENGINE_NAME_PATTERN.test(value)) {
    reader.report(
      PACK_FIELDS.engine,
      `must be an engine name of lowercase letters, digits, ".", "_" or "-", or null for the default engine; got ${describeValue(value)}`,
    );
    return undefined;
  }
  return value;
}

/** Writes the catalog in the file layout that `parseCatalogDocument` reads: settings first, then packs in display order. */
export function formatCatalogDocument(settings: CatalogSettings, packs: PackDefinition[]): Record<string, unknown> {
  const file: Record<string, unknown> = { [SETTINGS_DOCUMENT_PATH]: settings };
  for (const pack of sortPacksForDisplay(packs)) {
    file[`${PACK_DOCUMENT_PREFIX}${pack.name}`] = formatPack(pack);
  }
  return file;
}

function formatPack(pack: PackDefinition): Record<string, unknown> {
  return {
    [PACK_FIELDS.displayName]: pack.displayName,
    [PACK_FIELDS.isActive]: pack.isActive,
    [PACK_FIELDS.featured]: pack.featured,
    ...(pack.featuredThumbnail === null ? {} : { [PACK_FIELDS.featuredThumbnail]: pack.featuredThumbnail }),
    [PACK_FIELDS.numImagesPerPrompt]: pack.numImagesPerPrompt,
    [PACK_FIELDS.numPrompts]: pack.numPrompts,
    [PACK_FIELDS.secondaryThumbnailImages]: pack.secondaryThumbnailImages,
    [PACK_FIELDS.thumbnail]: pack.thumbnail,
    [PACK_FIELDS.prompts]: pack.prompts.map((prompt) =>
      prompt.negativePrompt === undefined ? { prompt: prompt.prompt } : { prompt: prompt.prompt, negative_prompt: prompt.negativePrompt },
    ),
    [PACK_FIELDS.displayOrder]: pack.displayOrder,
    ...(pack.engine === null ? {} : { [PACK_FIELDS.engine]: pack.engine }),
    ...pack.extra,
  };
}
