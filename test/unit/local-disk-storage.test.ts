import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, beforeEach, describe, it } from 'node:test';
import { FileLinkSigner, fileLinkBaseUrl } from '../../src/adapters/storage/file-links.js';
import { LocalDiskStorage } from '../../src/adapters/storage/local-disk-storage.js';
import { InvalidStorageKeyError, StorageNotFoundError } from '../../src/adapters/storage/object-storage.js';
import { listFiles } from '../helpers/files.js';

const SECRET = 'storage-test-secret-that-is-long-enough-0123456789';
const directories: string[] = [];

function newStorage(now = 1_700_000_000_000) {
  const directory = mkdtempSync(path.join(tmpdir(), 'envision-storage-'));
  directories.push(directory);
  const clock = { now: () => now };
  const root = path.join(directory, 'storage');
  return { root, storage: new LocalDiskStorage(root, new FileLinkSigner(SECRET, 'http://127.0.0.1:3000', clock)), clock };
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Creates a stream that sends some bytes and then fails, like an upload cut off halfway. */
function failingStream(): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(Buffer.alloc(10_000, 1));
      } else {
        this.destroy(new Error('connection reset'));
      }
    },
  });
}

after(() => directories.forEach((directory) => rmSync(directory, { recursive: true, force: true })));

describe('LocalDiskStorage', () => {
  let storage: LocalDiskStorage;
  let root: string;

  beforeEach(() => {
    ({ storage, root } = newStorage());
  });

  it('stores and reads back a buffer and a stream', async () => {
    const fromBuffer = await storage.put('jobs/j1/photos/p1.jpg', Buffer.from('jpeg bytes'), 'image/jpeg');
    const fromStream = await storage.put('runs/r1/0.png', Readable.from([Buffer.from('png '), Buffer.from('bytes')]), 'image/png');

    const jpeg = await storage.get('jobs/j1/photos/p1.jpg');
    const png = await storage.get('runs/r1/0.png');

    assert.deepEqual(fromBuffer, { bytes: 10 });
    assert.deepEqual(fromStream, { bytes: 9 });
    assert.equal((await readAll(jpeg.body)).toString(), 'jpeg bytes');
    assert.equal(jpeg.contentType, 'image/jpeg');
    assert.equal(jpeg.bytes, 10);
    assert.equal((await readAll(png.body)).toString(), 'png bytes');
    assert.equal(png.contentType, 'image/png');
    assert.equal(readFileSync(path.join(root, 'jobs/j1/photos/p1.jpg'), 'utf8'), 'jpeg bytes');
  });

  it('replaces an object whole', async () => {
    await storage.put('a/b.json', Buffer.from('{"v":1}'), 'application/json');
    await storage.put('a/b.json', Buffer.from('{"v":2,"longer":true}'), 'application/json');

    const object = await storage.get('a/b.json');

    assert.equal((await readAll(object.body)).toString(), '{"v":2,"longer":true}');
    assert.deepEqual(listFiles(root), ['a/b.json']);
  });

  it('leaves nothing behind when a write fails', async () => {
    await storage.put('a/kept.jpg', Buffer.from('old'), 'image/jpeg');

    await assert.rejects(storage.put('a/new.jpg', failingStream(), 'image/jpeg'), /connection reset/);
    await assert.rejects(storage.put('a/kept.jpg', failingStream(), 'image/jpeg'), /connection reset/);

    assert.deepEqual(listFiles(root), ['a/kept.jpg']);
    assert.equal(readFileSync(path.join(root, 'a/kept.jpg'), 'utf8'), 'old');
  });

  it('rejects a content type that does not match the extension', async () => {
    await assert.rejects(storage.put('a/photo.jpg', Buffer.from('x'), 'image/png'), /stored as image\/jpeg, not image\/png/);
    await assert.rejects(storage.put('a/blob', Buffer.from('x'), 'image/png'), /application\/octet-stream/);

    assert.deepEqual(listFiles(root), []);
  });

  for (const key of ['', '/etc/passwd', '../outside.jpg', 'a/../../outside.jpg', 'a/./b.jpg', 'a//b.jpg', 'a/', '.tmp/x.jpg', 'a/.hidden', 'a\\b.jpg', 'a/b\0.jpg', 'a b.jpg', 'é.jpg', `${'a'.repeat(256)}.jpg`]) {
    it(`rejects the key ${JSON.stringify(key)}`, async () => {
      await assert.rejects(storage.put(key, Buffer.from('x'), 'image/jpeg'), InvalidStorageKeyError);
      await assert.rejects(storage.get(key), InvalidStorageKeyError);
      await assert.rejects(storage.delete([key]), InvalidStorageKeyError);
      await assert.rejects(storage.signedUrl(key, 60), InvalidStorageKeyError);
      assert.equal(existsSync(path.join(root, '..', 'outside.jpg')), false);
    });
  }

  it('reports a missing object and a directory as not found', async () => {
    await storage.put('jobs/j1/photos/p1.jpg', Buffer.from('x'), 'image/jpeg');

    await assert.rejects(storage.get('jobs/j1/photos/missing.jpg'), StorageNotFoundError);
    await assert.rejects(storage.get('jobs/j1/photos'), StorageNotFoundError);
    await assert.rejects(storage.get('jobs/j1/photos/p1.jpg/below.jpg'), StorageNotFoundError);
  });

  it('deletes objects and ignores missing keys', async () => {
    await storage.put('a/1.jpg', Buffer.from('1'), 'image/jpeg');
    await storage.put('a/2.jpg', Buffer.from('2'), 'image/jpeg');

    await storage.delete(['a/1.jpg', 'a/never.jpg']);

    assert.deepEqual(listFiles(root), ['a/2.jpg']);
  });

  it('deletes by prefix, including a prefix that ends inside a name', async () => {
    for (const key of ['jobs/ab/photos/1.jpg', 'jobs/ab/thumbnails/1.jpg', 'jobs/abc/photos/1.jpg', 'jobs/b/photos/1.jpg']) {
      await storage.put(key, Buffer.from('x'), 'image/jpeg');
    }

    await storage.deletePrefix('jobs/ab/');
    const afterDirectoryPrefix = listFiles(root).sort();
    await storage.deletePrefix('jobs/a');
    await storage.deletePrefix('nothing/here/');

    assert.deepEqual(afterDirectoryPrefix, ['jobs/abc/photos/1.jpg', 'jobs/b/photos/1.jpg']);
    assert.deepEqual(listFiles(root), ['jobs/b/photos/1.jpg']);
    await assert.rejects(storage.deletePrefix(''), InvalidStorageKeyError);
    await assert.rejects(storage.deletePrefix('../'), InvalidStorageKeyError);
  });

  it('creates its root on ping', async () => {
    await storage.ping();

    assert.ok(existsSync(root));
  });

  it('removes only stale temporary files', async () => {
    const temporary = path.join(root, '.tmp');
    mkdirSync(temporary, { recursive: true });
    writeFileSync(path.join(temporary, 'old.part'), 'x');
    writeFileSync(path.join(temporary, 'young.part'), 'x');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
    utimesSync(path.join(temporary, 'old.part'), twoHoursAgo, twoHoursAgo);

    const removed = await storage.removeStaleTemporaryFiles(3600 * 1000, Date.now());

    assert.equal(removed, 1);
    assert.deepEqual(listFiles(temporary), ['young.part']);
  });
});

describe('FileLinkSigner', () => {
  it('signs links that expire', async () => {
    let now = 1_700_000_000_000;
    const signer = new FileLinkSigner(SECRET, 'https://api.example.test/v1', { now: () => now });

    const link = new URL(signer.url('jobs/j1/photos/p1.jpg', 600));
    const expires = link.searchParams.get('expires')!;
    const signature = link.searchParams.get('signature')!;
    const fresh = signer.check('jobs/j1/photos/p1.jpg', expires, signature);
    now += 600_000;
    const stale = signer.check('jobs/j1/photos/p1.jpg', expires, signature);

    assert.equal(link.origin + link.pathname, 'https://api.example.test/v1/files/jobs/j1/photos/p1.jpg');
    assert.equal(expires, String(1_700_000_000 + 600));
    assert.equal(fresh, 'valid');
    assert.equal(stale, 'expired');
  });

  it('rejects changed keys, expiries and signatures', () => {
    const signer = new FileLinkSigner(SECRET, 'http://127.0.0.1:3000', { now: () => 1_700_000_000_000 });
    const link = new URL(signer.url('a/1.jpg', 600));
    const expires = link.searchParams.get('expires')!;
    const signature = link.searchParams.get('signature')!;
    const otherSigner = new FileLinkSigner(`${SECRET}-other`, 'http://127.0.0.1:3000', { now: () => 1_700_000_000_000 });

    assert.equal(signer.check('a/2.jpg', expires, signature), 'invalid');
    assert.equal(signer.check('a/1.jpg', String(Number(expires) + 1), signature), 'invalid');
    assert.equal(signer.check('a/1.jpg', expires, `${signature.slice(0, -1)}${signature.endsWith('A') ? 'B' : 'A'}`), 'invalid');
    assert.equal(signer.check('a/1.jpg', expires, undefined), 'invalid');
    assert.equal(signer.check('a/1.jpg', undefined, signature), 'invalid');
    assert.equal(signer.check('a/1.jpg', `${expires}.5`, signature), 'invalid');
    assert.equal(otherSigner.check('a/1.jpg', expires, signature), 'invalid');
  });

  it('builds the base URL from the configuration', () => {
    assert.equal(fileLinkBaseUrl({ publicBaseUrl: 'https://api.example.test', host: '0.0.0.0', port: 80 }), 'https://api.example.test');
    assert.equal(fileLinkBaseUrl({ publicBaseUrl: undefined, host: '127.0.0.1', port: 3000 }), 'http://127.0.0.1:3000');
    assert.equal(fileLinkBaseUrl({ publicBaseUrl: undefined, host: '0.0.0.0', port: 8080 }), 'http://127.0.0.1:8080');
    assert.equal(fileLinkBaseUrl({ publicBaseUrl: undefined, host: '::', port: 8080 }), 'http://[::1]:8080');
  });
});
