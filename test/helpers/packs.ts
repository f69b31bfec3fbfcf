import { readFileSync } from 'node:fs';
import type { TestContext } from './app.js';

/** The contract's /packs-info example as valid JSON; see test/fixtures/packs/README.md. */
export const PACKS_INFO_EXAMPLE = JSON.parse(
  readFileSync(new URL('../fixtures/packs/packs-info-example.json', import.meta.url), 'utf8'),
) as { featuredPacks: Array<Record<string, unknown>>; packs: Array<Record<string, unknown>> };

export const PACK_PATH_PREFIX = 'CONFIGS/prompt_configs/packs/';

/** A catalog file: document path to fields. */
export type CatalogFile = Record<string, Record<string, unknown>>;

export async function exportCatalog(context: TestContext): Promise<CatalogFile> {
  return (await context.container.packs.exportCatalog()) as CatalogFile;
}

/** Returns a deep copy of `file` with the fields of one pack document changed. */
export function withPackFields(file: CatalogFile, packName: string, fields: Record<string, unknown>): CatalogFile {
  const copy = structuredClone(file);
  copy[`${PACK_PATH_PREFIX}${packName}`] = { ...copy[`${PACK_PATH_PREFIX}${packName}`], ...fields };
  return copy;
}

export async function getPacksInfo(context: TestContext) {
  const response = await context.app.inject({ method: 'GET', url: '/packs-info' });
  return { response, body: response.json() as typeof PACKS_INFO_EXAMPLE };
}

export function packNames(list: Array<Record<string, unknown>>): string[] {
  return list.map((entry) => String(entry.pack_name));
}

/**
 * Calls `check` until it returns true or `timeoutMs` passes, then fails. For changes that arrive on a
 * timer: the deadline is generous and only bounds a hang, it asserts nothing about speed.
 */
export async function waitUntil(description: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting until ${description}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
