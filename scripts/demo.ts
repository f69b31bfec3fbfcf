// `npm run demo`: acts as the iOS app against a local server. Unless one already answers, it starts one
// on the embedded defaults (SQLite, files and the local engine under <output folder>/server-data, on
// 127.0.0.1) and stops it at the end. Then: debug purchase → packs → new job → upload every file in
// test/fixtures/photos, printing each verdict → start a pack → poll until done → download the images
// and the zip → write a contact sheet. Every step is printed with its time.
//
// DEMO_URL picks the server (loopback only, default http://127.0.0.1:$PORT or :3000), DEMO_PACK the
// pack (default: the first featured pack), DEMO_OUTPUT the output folder (default ./demo-output).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { debugPurchaseBody } from './debug-purchase.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const baseUrl = (process.env.DEMO_URL ?? `http://127.0.0.1:${process.env.PORT ?? '3000'}`).replace(/\/+$/, '');
const photosDirectory = path.join(root, 'test', 'fixtures', 'photos');
const outputRoot = path.resolve(process.env.DEMO_OUTPUT ?? path.join(root, 'demo-output'));
/** Content types sent for the fixture files; the non-images are sent too, to show how uploads reject them. */
const FILE_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.png': 'image/png',
  '.heic': 'image/heic',
  '.svg': 'image/svg+xml',
  '.pdf': 'application/pdf',
};
const POLL_INTERVAL_MS = 1_000;
const POLL_LIMIT_MS = 15 * 60_000;

const demoStart = performance.now();

/** Runs one step and prints its duration and the time since the demo began. */
async function step<T>(title: string, work: () => Promise<T>, describe: (result: T) => string = () => ''): Promise<T> {
  const started = performance.now();
  const result = await work();
  const took = ((performance.now() - started) / 1000).toFixed(2);
  const at = ((performance.now() - demoStart) / 1000).toFixed(1);
  const detail = describe(result);
  console.log(`[${at.padStart(6)} s] ${title} (${took} s)${detail === '' ? '' : `: ${detail}`}`);
  return result;
}

function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
    throw new Error(`The demo only talks to a server on this machine, not to ${host}. Set DEMO_URL to a loopback address.`);
  }
}

interface ApiResponse {
  status: number;
  body: any;
}

async function api(method: string, url: string, options: { token?: string; json?: unknown; form?: FormData } = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) {
    headers.authorization = `Bearer ${options.token}`;
  }
  let body: string | FormData | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form !== undefined) {
    body = options.form;
  }
  const response = await fetch(`${baseUrl}${url}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: kept as text for the error message.
  }
  return { status: response.status, body: parsed };
}

function expectStatus(response: ApiResponse, expected: number, what: string): any {
  if (response.status !== expected) {
    throw new Error(`${what} returned status ${response.status}, expected ${expected}: ${JSON.stringify(response.body)}`);
  }
  return response.body;
}

async function serverAnswers(): Promise<boolean> {
  try {
    return (await fetch(`${baseUrl}/readyz`)).ok;
  } catch {
    return false;
  }
}

/**
 * Starts `envision start` from the sources on the demo's address, and waits until it is ready. It gets
 * only the variables below and the generation engine's settings, so the server runs on the embedded
 * defaults whatever else the shell has set, and `npm run engine-fakes` can still choose its engine.
 */
async function startServer(dataDirectory: string): Promise<ChildProcess> {
  const url = new URL(baseUrl);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli.ts'), 'start'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: url.hostname === 'localhost' ? '127.0.0.1' : url.hostname,
      PORT: url.port || '80',
      DATA_DIR: dataDirectory,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      ...engineVariables(),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`The server exited with status ${String(code)} before it was ready; see its log above.`);
  });
  const ready = (async () => {
    while (!(await serverAnswers())) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  await Promise.race([ready, exited]);
  return child;
}

/** The shell's generation engine settings (GENERATION_ENGINE, COMFYUI_*, REPLICATE_*, …) for the demo's server. */
function engineVariables(): Record<string, string> {
  const names = /^(GENERATION_ENGINE|ENGINE_|LOCAL_ENGINE_|COMFYUI_|REPLICATE_|TASK_)/;
  return Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] => names.test(entry[0]) && entry[1] !== undefined),
  );
}

async function main(): Promise<void> {
  assertLoopback(baseUrl);
  let server: ChildProcess | undefined;
  let sheet: string | undefined;
  const serverData = path.join(outputRoot, 'server-data');
  // Ctrl-C stops the demo's own server too, as the end of the demo does.
  process.once('SIGINT', () => {
    server?.kill('SIGTERM');
    process.exit(130);
  });
  try {
    await step(`server at ${baseUrl}`, async () => {
      if (!(await serverAnswers())) {
        await mkdir(serverData, { recursive: true });
        server = await startServer(serverData);
      }
    }, () => (server === undefined ? 'already running' : `started on the embedded defaults, data in ${serverData}`));

    sheet = await runAsTheApp();
  } finally {
    if (server !== undefined) {
      const child = server;
      await step('stop the demo server', async () => {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      });
    }
  }
  console.log(sheet === undefined ? '\nThe run made no images, so there is no contact sheet.' : `\nOpen ${sheet} to see the results.`);
}

/** Walks through the app's calls and returns the contact sheet's path, or undefined when there were no images. */
async function runAsTheApp(): Promise<string | undefined> {
  const expiresAt = new Date(Date.now() + 7 * 24 * 3600_000);
  const purchase = await step('debug purchase (/verify-payment)', async () =>
    expectStatus(
      await api('POST', '/verify-payment', { json: debugPurchaseBody(expiresAt) }),
      200,
      '/verify-payment',
    ),
  (body) => `userExists ${String(body.userExists)}`);
  const token = purchase.jwt_token as string;

  const packName = await step('packs (/packs-info)', async () => {
    const catalog = expectStatus(await api('GET', '/packs-info', { token }), 200, '/packs-info');
    const names = [...(catalog.featuredPacks ?? []), ...(catalog.packs ?? [])].map((pack: { pack_name: string }) => pack.pack_name);
    const chosen = process.env.DEMO_PACK ?? names[0];
    if (chosen === undefined || !names.includes(chosen)) {
      throw new Error(`No pack "${String(chosen)}" in /packs-info; it lists ${names.join(', ')}.`);
    }
    return chosen as string;
  }, (name) => name);

  const jobId = await step('new job (/initalize-job)', async () => expectStatus(await api('GET', '/initalize-job', { token }), 200, '/initalize-job').jobId as string, (id) => id);

  const files = (await readdir(photosDirectory)).filter((file) => FILE_TYPES[path.extname(file)] !== undefined).sort();
  let accepted = 0;
  for (const file of files) {
    await step(`upload ${file} (/upload)`, async () => {
      const form = new FormData();
      form.set('jobId', jobId);
      form.set('image', new Blob([await readFile(path.join(photosDirectory, file))], { type: FILE_TYPES[path.extname(file)] }), file);
      const response = await api('POST', '/upload', { token, form });
      if (response.status < 300) {
        accepted += 1;
      }
      return describeUpload(response);
    }, (verdict) => verdict);
  }
  console.log(`         ${accepted} of ${files.length} photos accepted`);

  await step(`start ${packName} (/start-job)`, async () => expectStatus(await api('POST', '/start-job', { token, json: { jobId, pack_name: packName } }), 202, '/start-job'), (body) => `${body.status}, ${body.progress.total} images`);

  const finished = await step('generation (/job-status until done)', async () => {
    const giveUpAt = Date.now() + POLL_LIMIT_MS;
    let lastDone = -1;
    for (;;) {
      const status = expectStatus(await api('GET', `/job-status?jobId=${jobId}`, { token }), 200, '/job-status');
      if (status.progress.done !== lastDone) {
        lastDone = status.progress.done;
        console.log(`         ${status.status}: ${status.progress.done}/${status.progress.total} images`);
      }
      if (['completed', 'partial', 'failed'].includes(status.status)) {
        return status;
      }
      if (Date.now() > giveUpAt) {
        throw new Error(`The job was still ${status.status} after ${POLL_LIMIT_MS / 60_000} minutes.`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  }, (status) => `${status.status}${status.reason === null ? '' : ` (${status.reason})`}`);

  const outputDirectory = path.join(outputRoot, jobId);
  await mkdir(outputDirectory, { recursive: true });
  const imagePaths = await step('download images', async () => {
    const paths: string[] = [];
    for (const image of finished.images as Array<{ url: string; pack_name: string; prompt_index: number; image_index: number; content_type: string }>) {
      const url = new URL(image.url, baseUrl).toString();
      assertLoopback(url);
      const response = await fetch(url);
      if (!response.ok) {
        throw new Error(`Downloading ${image.pack_name} ${image.prompt_index}-${image.image_index} returned status ${response.status}.`);
      }
      const extension = image.content_type.split('/')[1] === 'jpeg' ? 'jpg' : image.content_type.split('/')[1];
      const file = path.join(outputDirectory, `${image.pack_name}-${image.prompt_index + 1}-${image.image_index + 1}.${extension}`);
      await writeFile(file, Buffer.from(await response.arrayBuffer()));
      paths.push(file);
    }
    return paths;
  }, (paths) => `${paths.length} files in ${outputDirectory}`);

  await step('download zip (/job-archive)', async () => {
    const response = await fetch(`${baseUrl}/job-archive?jobId=${jobId}`, { headers: { authorization: `Bearer ${token}` } });
    if (!response.ok) {
      throw new Error(`/job-archive returned status ${response.status}: ${await response.text()}`);
    }
    const file = path.join(outputDirectory, `envision-${jobId}.zip`);
    const data = Buffer.from(await response.arrayBuffer());
    await writeFile(file, data);
    return `${file} (${(data.length / 1024).toFixed(0)} KiB)`;
  }, (description) => description);

  if (imagePaths.length === 0) {
    return undefined;
  }
  const sheet = path.join(outputDirectory, 'contact-sheet.png');
  await step('contact sheet', async () => writeContactSheet(imagePaths, sheet), () => sheet);
  return sheet;
}

/** Returns an upload's verdict: the face box of an accepted photo, or the status, code and reasons of a rejection. */
function describeUpload(response: ApiResponse): string {
  if (response.status < 300) {
    const box = response.body.faceBox as { x: number; y: number; width: number; height: number } | null | undefined;
    const face = box === null || box === undefined ? 'no face box (face check skipped)' : `face at x ${Math.round(box.x)}, y ${Math.round(box.y)}, ${Math.round(box.width)}×${Math.round(box.height)} px`;
    return `accepted, ${response.body.width}×${response.body.height}, ${face}`;
  }
  const error = response.body?.error ?? {};
  const details = Array.isArray(error.details) ? (error.details as Array<{ code?: string; message?: string }>) : [];
  const reasons = details.filter((detail) => detail.code !== undefined).map((detail) => `\n           - ${detail.code}: ${detail.message}`);
  return `rejected, ${response.status} ${String(error.code)}${reasons.length > 0 ? reasons.join('') : `: ${String(error.message)}`}`;
}

/** Lays the images out in a grid of 256-pixel tiles, as many columns as the images of one prompt. */
async function writeContactSheet(imagePaths: string[], output: string): Promise<void> {
  const tile = 256;
  const gap = 8;
  const columns = Math.min(4, imagePaths.length);
  const rows = Math.ceil(imagePaths.length / columns);
  const tiles = await Promise.all(
    imagePaths.map(async (file, index) => ({
      input: await sharp(file).resize(tile, tile, { fit: 'cover' }).toBuffer(),
      left: gap + (index % columns) * (tile + gap),
      top: gap + Math.floor(index / columns) * (tile + gap),
    })),
  );
  await sharp({
    create: {
      width: gap + columns * (tile + gap),
      height: gap + rows * (tile + gap),
      channels: 3,
      background: { r: 24, g: 24, b: 24 },
    },
  })
    .composite(tiles)
    .png()
    .toFile(output);
}

main().catch((error: unknown) => {
  console.error(`\nThe demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
