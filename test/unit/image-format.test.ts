import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { sniffImageFormat } from '../../src/adapters/images/image-format.js';
import { fixture } from '../helpers/images.js';

function isoMedia(majorBrand: string, compatibleBrands: string[]): Buffer {
  const size = 16 + 4 * compatibleBrands.length;
  const box = Buffer.alloc(size);
  box.writeUInt32BE(size, 0);
  box.write('ftyp', 4, 'latin1');
  box.write(majorBrand, 8, 'latin1');
  compatibleBrands.forEach((brand, index) => box.write(brand, 16 + 4 * index, 'latin1'));
  return box;
}

describe('sniffImageFormat', () => {
  const coffee = fixture('coffee.png');

  for (const [name, bytes, format, label] of [
    ['JPEG fixture', async () => fixture('astronaut.jpg'), 'jpeg', 'JPEG'],
    ['PNG fixture', async () => fixture('astronaut.png'), 'png', 'PNG'],
    ['HEIC fixture', async () => fixture('astronaut.heic'), 'heif', 'HEIC'],
    ['WebP', () => sharp(coffee).webp().toBuffer(), 'webp', 'WebP'],
    ['HEIF with the generic brand', async () => isoMedia('mif1', ['mif1', 'miaf']), 'heif', 'HEIF'],
    ['HEIC named only among compatible brands', async () => isoMedia('mif1', ['mif1', 'heic']), 'heif', 'HEIC'],
    ['AVIF', () => sharp(coffee).avif().toBuffer(), undefined, 'AVIF'],
    ['MP4 video', async () => isoMedia('isom', ['isom', 'mp42']), undefined, 'video or other ISO media'],
    ['GIF', () => sharp(coffee).gif().toBuffer(), undefined, 'GIF'],
    ['TIFF', () => sharp(coffee).tiff().toBuffer(), undefined, 'TIFF'],
    ['SVG fixture', async () => fixture('drawing.svg'), undefined, 'SVG'],
    ['SVG without an XML declaration', async () => Buffer.from('  <svg xmlns="http://www.w3.org/2000/svg"/>'), undefined, 'SVG'],
    ['PDF fixture', async () => fixture('document.pdf'), undefined, 'PDF'],
    ['text', async () => Buffer.from('hello'), undefined, 'unknown'],
    ['nothing', async () => Buffer.alloc(0), undefined, 'unknown'],
  ] as const) {
    it(`recognises ${name}`, async () => {
      const sniffed = sniffImageFormat((await bytes()).subarray(0, 512));

      assert.equal(sniffed.format, format);
      assert.equal(sniffed.name, label);
    });
  }
});
