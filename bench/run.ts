// Runs the benchmark suites in bench/*.bench.ts (or those whose names contain an argument) and prints
// their Markdown sections. Each suite's default export returns its section; docs/benchmarks.md records them.
import { readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const directory = path.dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const suites = readdirSync(directory)
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();

const header = [
  `Run on ${new Date().toISOString()}: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'},`,
  `${Math.round(os.totalmem() / 2 ** 30)} GiB, Node.js ${process.version}, ${os.platform()} ${os.release()}.`,
].join(' ');
const sections = [header];
console.log(header);

for (const file of suites) {
  const suite = (await import(path.join(directory, file))) as { default: () => Promise<string> };
  console.log(`\n## ${file}\n`);
  const section = await suite.default();
  console.log(section);
  sections.push(section);
}

await mkdir(path.join(directory, 'results'), { recursive: true });
await writeFile(path.join(directory, 'results', 'latest.md'), `${sections.join('\n\n')}\n`);
