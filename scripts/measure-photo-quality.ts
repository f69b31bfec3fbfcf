// Prints what the quality gate measures on the test photos and on variants made from them: face count,
// face size, sharpness, hash and descriptor distances to astronaut.png. docs/quality-gate.md records its
// output; the default thresholds in src/config/config.ts were chosen from it.
//
//   node --import tsx scripts/measure-photo-quality.ts
import sharp from 'sharp';
import { FaceAnalysisPool } from '../src/adapters/faces/face-analysis-pool.js';
import type { FaceAnalysis } from '../src/adapters/faces/face-analyzer.js';
import { euclideanDistance, hammingDistance } from '../src/domain/photos/face-quality-gate.js';
import { blurredPhoto, fixturePhoto, sideBySidePhoto, smallFacePhoto } from '../test/helpers/photos.js';

const cases: Array<[string, () => Promise<Buffer>]> = [
  ['astronaut', async () => fixturePhoto('astronaut')],
  ['astronaut as JPEG q50', () => sharp(fixturePhoto('astronaut')).jpeg({ quality: 50 }).toBuffer()],
  ['astronaut at 1024 px', () => sharp(fixturePhoto('astronaut')).resize(1024).png().toBuffer()],
  ['astronaut mirrored', () => sharp(fixturePhoto('astronaut')).flop().png().toBuffer()],
  ['astronaut cropped 5%', () => sharp(fixturePhoto('astronaut')).extract({ left: 13, top: 13, width: 486, height: 486 }).png().toBuffer()],
  ['astronaut cropped 10%', () => sharp(fixturePhoto('astronaut')).extract({ left: 26, top: 26, width: 460, height: 460 }).png().toBuffer()],
  ['astronaut dimmed to 30%', () => sharp(fixturePhoto('astronaut')).linear(0.3, 0).png().toBuffer()],
  ['camera', async () => fixturePhoto('camera')],
  ['chelsea', async () => fixturePhoto('chelsea')],
  ['coffee', async () => fixturePhoto('coffee')],
  ...[1, 1.5, 2, 2.5, 3, 6].map((sigma): [string, () => Promise<Buffer>] => [`astronaut blur σ${sigma}`, () => blurredPhoto('astronaut', sigma)]),
  ...[1, 1.5].map((sigma): [string, () => Promise<Buffer>] => [`camera blur σ${sigma}`, () => blurredPhoto('camera', sigma)]),
  ...[2, 6].map((sigma): [string, () => Promise<Buffer>] => [`coffee blur σ${sigma}`, () => blurredPhoto('coffee', sigma)]),
  ['astronaut 512 on 1000 canvas', () => smallFacePhoto('astronaut', 512, 1000)],
  ['astronaut 256 on 1024 canvas', () => smallFacePhoto('astronaut', 256, 1024)],
  ['astronaut + astronaut', () => sideBySidePhoto('astronaut', 'astronaut')],
  ['astronaut + camera', () => sideBySidePhoto('astronaut', 'camera')],
];

const pool = new FaceAnalysisPool({ threads: 1 });
try {
  const reference = await pool.analyze(fixturePhoto('astronaut'));
  console.log('| photo | faces (unconfirmed) | face size | sharpness | hash bits to astronaut | descriptor distance to astronaut |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const [name, make] of cases) {
    const analysis = await pool.analyze(await make());
    console.log(`| ${name} | ${describe(analysis, reference)} |`);
  }
} finally {
  await pool.close();
}

function describe(analysis: FaceAnalysis, reference: FaceAnalysis): string {
  const face = analysis.faces[0];
  const faceSize = face ? Math.max(face.box.width, face.box.height) / Math.min(analysis.width, analysis.height) : undefined;
  const hashBits = Math.min(
    hammingDistance(analysis.perceptualHash, reference.perceptualHash),
    hammingDistance(analysis.mirroredPerceptualHash, reference.perceptualHash),
  );
  const descriptorDistance =
    analysis.faceDescriptor && reference.faceDescriptor ? euclideanDistance(analysis.faceDescriptor, reference.faceDescriptor).toFixed(3) : '–';
  return [
    `${analysis.faces.length} (${analysis.unconfirmedFaceCount})`,
    faceSize === undefined ? '–' : faceSize.toFixed(3),
    face ? `face ${face.sharpness.toFixed(4)}` : `image ${analysis.imageSharpness.toFixed(4)}`,
    hashBits,
    descriptorDistance,
  ].join(' | ');
}
