import { readFile, stat, writeFile } from 'node:fs/promises';
import type { Config } from '../config/config.js';
import { migrateToLatest, openDatabase } from '../adapters/database/database.js';
import { PacksRepository } from '../adapters/database/repositories/packs-repository.js';
import { systemClock } from '../domain/clock.js';
import { isAppError } from '../domain/errors.js';
import { type CatalogImportOutcome, PackService } from '../domain/packs/pack-service.js';

export const PACKS_USAGE = `Usage:
  envision packs import [--replace] FILE   Load a pack catalog file; with --replace, delete packs not in FILE.
  envision packs export [FILE]             Write the pack catalog to FILE, or to standard output.

The file layout is described in docs/packs.md. An import checks the whole file first and changes nothing
if any field is invalid. Running servers pick up the change within PACKS_REFRESH_INTERVAL_MS.`;

/** Exit statuses from sysexits.h, plus 2 for a usage error as the rest of the command line uses. */
const EXIT_USAGE = 2;
const EXIT_DATA_ERROR = 65;
const EXIT_NO_INPUT = 66;

const MAX_FILE_BYTES = 32 * 1024 * 1024;

/** Output streams, so tests can capture what the command prints. */
export interface CommandOutput {
  out(text: string): void;
  error(text: string): void;
}

const processOutput: CommandOutput = {
  out: (text) => process.stdout.write(text),
  error: (text) => process.stderr.write(text),
};

/** Runs `envision packs <subcommand>` and returns the exit status. */
export async function runPacksCommand(args: string[], config: Config, output: CommandOutput = processOutput): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === 'import') {
    const replace = rest.includes('--replace');
    const files = rest.filter((argument) => argument !== '--replace');
    if (files.length !== 1 || files[0]!.startsWith('-')) {
      output.error(`envision packs import needs exactly one FILE.\n\n${PACKS_USAGE}\n`);
      return EXIT_USAGE;
    }
    return importFile(files[0]!, replace, config, output);
  }
  if (subcommand === 'export' && rest.length <= 1 && !rest[0]?.startsWith('-')) {
    return exportTo(rest[0], config, output);
  }
  output.error(`${subcommand === undefined ? 'Missing packs command.' : `Invalid packs command "${args.join(' ')}".`}\n\n${PACKS_USAGE}\n`);
  return EXIT_USAGE;
}

async function importFile(file: string, replace: boolean, config: Config, output: CommandOutput): Promise<number> {
  let text: string;
  try {
    const { size } = await stat(file);
    if (size > MAX_FILE_BYTES) {
      output.error(`${file} is ${size} bytes; a pack catalog file may be at most ${MAX_FILE_BYTES} bytes.\n`);
      return EXIT_DATA_ERROR;
    }
    text = await readFile(file, 'utf8');
  } catch (error) {
    output.error(`Could not read ${file}: ${(error as Error).message}\n`);
    return EXIT_NO_INPUT;
  }

  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    output.error(`${file} is not valid JSON: ${(error as Error).message}. Nothing was changed.\n`);
    return EXIT_DATA_ERROR;
  }

  return withPackService(config, async (packs) => {
    try {
      const outcome = await packs.importCatalog(document, { replace });
      for (const warning of outcome.warnings) {
        output.error(`warning: ${warning.field} ${warning.message}\n`);
      }
      output.out(`${describeImport(outcome, config)}\n`);
      return 0;
    } catch (error) {
      if (!isAppError(error) || error.code !== 'invalid_pack_catalog') {
        throw error;
      }
      output.error(`${file}: ${error.message}\n`);
      for (const detail of error.details ?? []) {
        output.error(`  - ${detail.field}: ${detail.message}\n`);
      }
      return EXIT_DATA_ERROR;
    }
  });
}

async function exportTo(file: string | undefined, config: Config, output: CommandOutput): Promise<number> {
  return withPackService(config, async (packs) => {
    const document = await packs.exportCatalog();
    const text = `${JSON.stringify(document, null, 2)}\n`;
    if (file === undefined) {
      output.out(text);
    } else {
      await writeFile(file, text);
      output.error(`Wrote the pack catalog (${Object.keys(document).length - 1} packs) to ${file}.\n`);
    }
    return 0;
  });
}

/** Opens the database on one connection, applies pending migrations, and runs `work` with a PackService. */
async function withPackService(config: Config, work: (packs: PackService) => Promise<number>): Promise<number> {
  const connection = openDatabase(config.databaseUrl, { maxConnections: 1 });
  try {
    await migrateToLatest(connection.db);
    return await work(new PackService(new PacksRepository(connection.db), systemClock, config.packs));
  } finally {
    await connection.close();
  }
}

function describeImport(outcome: CatalogImportOutcome, config: Config): string {
  const list = (names: string[]) => (names.length === 0 ? '' : ` (${names.join(', ')})`);
  const lines = [
    `Imported ${outcome.added.length + outcome.updated.length + outcome.unchanged.length} packs: ` +
      `${outcome.added.length} added${list(outcome.added)}, ${outcome.updated.length} updated${list(outcome.updated)}, ` +
      `${outcome.unchanged.length} unchanged, ${outcome.removed.length} removed${list(outcome.removed)}.`,
    `Shared settings ${outcome.settingsChanged ? 'replaced' : 'unchanged'}. Catalog version ${outcome.version}.`,
  ];
  if (outcome.changed) {
    lines.push(`Running servers serve the change within ${config.packs.refreshIntervalMs} ms (PACKS_REFRESH_INTERVAL_MS).`);
  }
  return lines.join('\n');
}
