import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { Config } from '../../src/config/config.js';
import { type CommandOutput, runPacksCommand } from '../../src/start/packs-command.js';
import { TEST_JWT_SECRET, createTestContext, testConfig, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { type CatalogFile, PACK_PATH_PREFIX, exportCatalog, getPacksInfo, packNames, waitUntil, withPackFields } from '../helpers/packs.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const TSX_LOADER = import.meta.resolve('tsx');
const runFile = promisify(execFile);

/** Runs the command in this process and returns its exit status and output. */
async function runInProcess(args: string[], config: Config): Promise<{ status: number; out: string; error: string }> {
  let out = '';
  let error = '';
  const output: CommandOutput = {
    out: (text) => (out += text),
    error: (text) => (error += text),
  };
  const status = await runPacksCommand(args, config, output);
  return { status, out, error };
}

for (const kind of DATABASE_KINDS) {
  describe(`envision packs on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    let cliConfig: Config;
    let directory: string;
    let seed: CatalogFile;

    before(async () => {
      context = await createTestContext(kind, { env: { PACKS_REFRESH_INTERVAL_MS: '100' } });
      directory = mkdtempSync(path.join(tmpdir(), 'envision-packs-cli-'));
      cliConfig = testConfig(context.config.databaseUrl, directory);
      seed = await exportCatalog(context);
    });
    after(async () => {
      await context?.close();
      rmSync(directory, { recursive: true, force: true });
    });

    function writeCatalogFile(name: string, content: unknown): string {
      const file = path.join(directory, name);
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
      return file;
    }

    it('exports to standard output and to a file', async () => {
      const toOutput = await runInProcess(['export'], cliConfig);
      const file = path.join(directory, 'export.json');
      const toFile = await runInProcess(['export', file], cliConfig);

      assert.equal(toOutput.status, 0);
      assert.deepEqual(JSON.parse(toOutput.out), seed);
      assert.equal(toFile.status, 0);
      assert.equal(readFileSync(file, 'utf8'), toOutput.out);
      assert.match(toFile.error, /12 packs/);
    });

    it('lists every bad field and changes nothing', async () => {
      let bad = withPackFields(seed, 'neon', { num_prompts: 0, featured_thumbnail: 'not a url' });
      bad = withPackFields(bad, 'gta', { 'secondary-thumbnail-images': ['https://example.com/ok.png', 12] });
      bad = withPackFields(bad, 'modern', { 'display-name': 'Valid but not applied' });
      const file = writeCatalogFile('bad.json', bad);

      const result = await runInProcess(['import', '--replace', file], cliConfig);

      assert.equal(result.status, 65);
      assert.equal(result.out, '');
      assert.match(result.error, /3 invalid fields; nothing was changed/);
      for (const field of ['neon.num_prompts', 'neon.featured_thumbnail', 'gta.secondary-thumbnail-images[1]']) {
        assert.ok(result.error.includes(`  - ${PACK_PATH_PREFIX}${field}: `), `${field} in:\n${result.error}`);
      }
      assert.deepEqual(await exportCatalog(context), seed);
    });

    it('rejects a file that is not JSON or cannot be read', async () => {
      const notJson = await runInProcess(['import', writeCatalogFile('broken.json', '{"CONFIGS/prompt_configs": ')], cliConfig);
      const missing = await runInProcess(['import', path.join(directory, 'missing.json')], cliConfig);

      assert.equal(notJson.status, 65);
      assert.match(notJson.error, /is not valid JSON/);
      assert.equal(missing.status, 66);
      assert.match(missing.error, /Could not read/);
      assert.deepEqual(await exportCatalog(context), seed);
    });

    it('rejects wrong usage', async () => {
      for (const args of [[], ['import'], ['import', 'a.json', 'b.json'], ['export', 'a.json', 'b.json'], ['list']]) {
        const result = await runInProcess(args, cliConfig);
        assert.equal(result.status, 2, args.join(' '));
        assert.match(result.error, /Usage:/, args.join(' '));
      }
    });

    it('imports, reports the changes and warns about unused fields', async () => {
      const file = writeCatalogFile('edit.json', withPackFields(seed, 'old', { 'display-name': 'Olden Days', 'legacy-id': 3 }));
      try {
        const result = await runInProcess(['import', file], cliConfig);

        assert.equal(result.status, 0);
        assert.match(result.out, /Imported 12 packs: 0 added, 1 updated \(old\), 11 unchanged, 0 removed\./);
        assert.match(result.error, /warning: CONFIGS\/prompt_configs\/packs\/old\.legacy-id is not used by the server/);
      } finally {
        await context.container.packs.importCatalog(seed, { replace: true });
      }
    });

    it('reaches a running server from another process', async () => {
      await getPacksInfo(context);
      const file = writeCatalogFile('deactivate.json', withPackFields(seed, 'historical', { is_active: false }));
      try {
        const { stdout } = await runFile(process.execPath, ['--import', TSX_LOADER, CLI, 'packs', 'import', file], {
          cwd: directory,
          env: {
            PATH: process.env.PATH ?? '',
            NODE_ENV: 'test',
            LOG_LEVEL: 'silent',
            DATA_DIR: directory,
            DATABASE_URL: context.config.databaseUrl,
            JWT_SECRET: TEST_JWT_SECRET,
          },
        });

        assert.match(stdout, /1 updated \(historical\)/);
        await waitUntil('the running server drops historical', async () => {
          const { body } = await getPacksInfo(context);
          return !packNames(body.packs).includes('historical');
        });
        assert.deepEqual(packNames((await getPacksInfo(context)).body.featuredPacks), ['neon', 'gta', 'fashion']);
      } finally {
        await context.container.packs.importCatalog(seed, { replace: true });
      }
    });
  });
}
