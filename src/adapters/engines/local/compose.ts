import sharp, { type OverlayOptions } from 'sharp';
import type { Look } from './looks.js';
import { backdropMatte } from './matte.js';
import { backdropLayer, frameLayer, lightLayer, patternLayer, type SubjectPlacement, vignetteLayer } from './overlays.js';
import { grainNoise, halftoneDots, inkOutline, posterize, toneMonochrome } from './pixels.js';
import type { ScenePlan, ShotPlan } from './plan.js';
import { PORTRAIT_SIDE } from './portraits.js';
import type { PreparedPortrait } from './preparation.js';
import { clamp, seedFrom } from './variation.js';

/** Output side in pixels. */
export const OUTPUT_SIDE = 1024;

const JPEG_QUALITY = 90;

/** Largest zoom into a prepared portrait; beyond it the upscaled photo turns soft. */
const MAX_ZOOM = 3;

interface RawImage {
  data: Buffer;
  width: number;
  height: number;
}

/**
 * Renders one image: frames the portrait around its subject, grades and stylises it, then composites the
 * look's backdrop, light, textures, vignette and frame, and encodes a 1024×1024 JPEG. `signal` is checked
 * between the steps, because a sharp call cannot be interrupted once it runs.
 */
export async function composeImage(
  portraitJpeg: Buffer,
  portrait: PreparedPortrait,
  look: Look,
  scene: ScenePlan,
  shot: ShotPlan,
  signal: AbortSignal,
): Promise<Buffer> {
  const framed = await frameSubject(portraitJpeg, portrait, shot);
  signal.throwIfAborted();

  const graded = await grade(framed.image, look);
  // Ink follows the graded photo, not the posterised one, so the cel-shading bands get no outlines.
  const outline = look.grade.outline === true ? await outlineMask(graded) : null;
  const styled = stylise(graded, look);
  signal.throwIfAborted();

  const layers = await buildLayers(framed.image, styled, outline, framed.subject, look, scene, shot);
  signal.throwIfAborted();

  return sharp(styled.data, { raw: { width: styled.width, height: styled.height, channels: 3 } })
    .composite(layers)
    .jpeg({ quality: JPEG_QUALITY })
    .toBuffer();
}

/**
 * Cuts the frame out of the portrait. Its size follows from the look's face fraction (a bigger face means
 * a smaller frame), its centre is the subject's plus the shot's small offset. A tilted shot cuts a larger
 * square, turns it, and keeps its middle, so no empty corners show.
 */
async function frameSubject(
  portraitJpeg: Buffer,
  portrait: PreparedPortrait,
  shot: ShotPlan,
): Promise<{ image: RawImage; subject: SubjectPlacement }> {
  let zoom = clamp(shot.faceFraction / portrait.subjectScale, 1, MAX_ZOOM);
  const tilted = shot.tiltDegrees !== 0;
  if (tilted) {
    zoom = Math.max(zoom, 1.12);
  }
  const frameSide = Math.round(PORTRAIT_SIDE / zoom);
  const cutSide = tilted ? Math.min(PORTRAIT_SIDE, Math.round(frameSide * 1.1)) : frameSide;
  const centreX = PORTRAIT_SIDE / 2 + shot.offsetX * frameSide;
  const centreY = PORTRAIT_SIDE / 2 + shot.offsetY * frameSide;
  const cut = {
    left: Math.round(clamp(centreX - cutSide / 2, 0, PORTRAIT_SIDE - cutSide)),
    top: Math.round(clamp(centreY - cutSide / 2, 0, PORTRAIT_SIDE - cutSide)),
    width: cutSide,
    height: cutSide,
  };

  let source = sharp(portraitJpeg).extract(cut);
  if (tilted) {
    const turned = await source.rotate(shot.tiltDegrees).raw().toBuffer({ resolveWithObject: true });
    const left = Math.round((turned.info.width - frameSide) / 2);
    const top = Math.round((turned.info.height - frameSide) / 2);
    source = sharp(turned.data, { raw: { width: turned.info.width, height: turned.info.height, channels: 3 } }).extract({
      left,
      top,
      width: frameSide,
      height: frameSide,
    });
  }
  source = source.resize(OUTPUT_SIDE, OUTPUT_SIDE);
  if (shot.mirrored) {
    source = source.flop();
  }
  const { data, info } = await source.removeAlpha().raw().toBuffer({ resolveWithObject: true });

  // Where the portrait's centre (the subject) lands in the output, after the offset and any clamping.
  const scale = OUTPUT_SIDE / frameSide;
  const subjectX = (PORTRAIT_SIDE / 2 - cut.left - (cutSide - frameSide) / 2) * scale;
  const subjectY = (PORTRAIT_SIDE / 2 - cut.top - (cutSide - frameSide) / 2) * scale;
  return {
    image: { data, width: info.width, height: info.height },
    subject: {
      kind: portrait.subject,
      centreX: shot.mirrored ? OUTPUT_SIDE - subjectX : subjectX,
      centreY: subjectY,
      faceSize: portrait.subjectScale * PORTRAIT_SIDE * scale,
    },
  };
}

/** Colour grading with sharp: smoothing or sharpening, then the colour matrix, modulate and contrast. */
async function grade(image: RawImage, look: Look): Promise<RawImage> {
  const { grade: settings } = look;
  const raw = { width: image.width, height: image.height, channels: 3 as const };

  // Spatial filters run first, in their own call, because sharp applies its operations in a fixed order.
  let data = image.data;
  if (settings.painterly !== undefined || settings.sharpen === true) {
    if (settings.painterly !== undefined) {
      // At half size the median costs a quarter as much, and the softer upscale suits a painted look.
      const half = { width: image.width / 2, height: image.height / 2 };
      const smoothed = await sharp(data, { raw }).resize(half.width, half.height).median(settings.painterly).raw().toBuffer();
      data = await sharp(smoothed, { raw: { ...half, channels: 3 } }).resize(image.width, image.height).raw().toBuffer();
    }
    if (settings.sharpen === true) {
      data = await sharp(data, { raw }).sharpen({ sigma: 1.2 }).raw().toBuffer();
    }
  }

  let colour = sharp(data, { raw });
  if (settings.matrix !== undefined) {
    colour = colour.recomb(settings.matrix);
  }
  colour = colour
    .modulate({ brightness: settings.brightness, saturation: settings.saturation })
    .linear(settings.contrast, 128 * (1 - settings.contrast) + settings.lift);
  data = await colour.raw().toBuffer();
  return { data, width: image.width, height: image.height };
}

/** Applies the look's pixel-level styling that sharp has no call for: toning and cel shading. */
function stylise(image: RawImage, look: Look): RawImage {
  let data = image.data;
  if (look.grade.monochrome !== undefined) {
    data = toneMonochrome(data, look.grade.monochrome);
  }
  if (look.grade.posterizeLevels !== undefined) {
    data = posterize(data, look.grade.posterizeLevels);
  }
  return { ...image, data };
}

/** Builds every layer over the graded image, bottom first. */
async function buildLayers(
  framed: RawImage,
  graded: RawImage,
  outline: Buffer | null,
  subject: SubjectPlacement,
  look: Look,
  scene: ScenePlan,
  shot: ShotPlan,
): Promise<OverlayOptions[]> {
  const side = OUTPUT_SIDE;
  const layers: OverlayOptions[] = [];
  const raw = { width: graded.width, height: graded.height, channels: 3 as const };

  if (outline !== null) {
    layers.push({ input: outline, raw: { ...raw, channels: 1 }, blend: 'multiply' });
  }
  if (look.grade.bloom !== undefined) {
    const glow = await sharp(graded.data, { raw }).blur(22).ensureAlpha(look.grade.bloom).raw().toBuffer();
    layers.push({ input: glow, raw: { ...raw, channels: 4 }, blend: 'screen' });
  }

  const backdrop = backdropLayer(look, scene, subject, side);
  if (backdrop !== null) {
    layers.push({ input: await matteBackdrop(backdrop, framed, subject, look.backdrop.opacity), raw: { ...raw, channels: 4 }, blend: 'over' });
  }
  if (look.grade.ghost !== undefined) {
    layers.push(...(await ghostLayers(graded, look.grade.ghost, subject)));
  }
  const light = lightLayer(look, scene, subject, side);
  if (light !== null) {
    layers.push({ input: light.svg, blend: light.blend });
  }

  for (const [index, texture] of look.textures.entries()) {
    const seed = seedFrom(shot.textureSeed, index);
    const singleChannel = { width: side, height: side, channels: 1 as const };
    if (texture.kind === 'grain' || texture.kind === 'coarse-grain') {
      layers.push({ input: await grainLayer(texture.kind === 'coarse-grain', texture.strength, seed), raw: singleChannel, blend: 'overlay' });
    } else if (texture.kind === 'halftone') {
      // librsvg took seconds for a turned dot pattern this size; a loop over the pixels takes milliseconds.
      layers.push({ input: halftoneDots(side, side, 10, 2.4, scene.patternAngle % 90, texture.strength), raw: singleChannel, blend: 'multiply' });
    } else {
      const pattern = patternLayer(texture.kind, texture.strength, scene, subject, side, seed);
      layers.push({ input: pattern.svg, blend: pattern.blend });
    }
  }

  const vignette = vignetteLayer(look.vignette, side);
  if (vignette !== null) {
    layers.push({ input: vignette, blend: 'over' });
  }
  const frame = frameLayer(look, scene, side);
  if (frame !== null) {
    layers.push({ input: frame, blend: 'over' });
  }
  return layers;
}

/** Renders the backdrop and gives it an alpha channel: the matte of the framed photo, scaled by `opacity`. */
async function matteBackdrop(backdropSvg: Buffer, framed: RawImage, subject: SubjectPlacement, opacity: number): Promise<Buffer> {
  const matte = await backdropMatte(framed, subject);
  for (let index = 0; index < matte.length; index += 1) {
    matte[index] = Math.round(matte[index]! * opacity);
  }
  const backdrop = await sharp(backdropSvg).removeAlpha().raw().toBuffer();
  return sharp(backdrop, { raw: { width: framed.width, height: framed.height, channels: 3 } })
    .joinChannel(matte, { raw: { width: framed.width, height: framed.height, channels: 1 } })
    .raw()
    .toBuffer();
}

/** White with dark ink lines along edges, for `multiply`. The blur first keeps fine texture from inking. */
async function outlineMask(graded: RawImage): Promise<Buffer> {
  const grey = await sharp(graded.data, { raw: { width: graded.width, height: graded.height, channels: 3 } })
    .greyscale()
    .blur(1.6)
    .extractChannel(0)
    .raw()
    .toBuffer();
  return inkOutline(grey, graded.width, graded.height, 60, 140);
}

/**
 * Two mirrored copies of the image, shifted to each side and faded, for `screen`: the double exposure of
 * the doppelgänger look. They are symmetric around the subject, which keeps the composition centred.
 */
async function ghostLayers(graded: RawImage, strength: number, subject: SubjectPlacement): Promise<OverlayOptions[]> {
  const raw = { width: graded.width, height: graded.height, channels: 3 as const };
  const mirrored = await sharp(graded.data, { raw }).flop().ensureAlpha(strength).raw().toBuffer();
  const shift = Math.round(clamp(subject.faceSize * 1.5, graded.width * 0.2, graded.width * 0.4));
  const width = graded.width - shift;
  const mirroredRaw = { width: graded.width, height: graded.height, channels: 4 as const };
  const leftPart = await sharp(mirrored, { raw: mirroredRaw }).extract({ left: shift, top: 0, width, height: graded.height }).raw().toBuffer();
  const rightPart = await sharp(mirrored, { raw: mirroredRaw }).extract({ left: 0, top: 0, width, height: graded.height }).raw().toBuffer();
  const partRaw = { width, height: graded.height, channels: 4 as const };
  return [
    { input: leftPart, raw: partRaw, left: 0, top: 0, blend: 'screen' },
    { input: rightPart, raw: partRaw, left: shift, top: 0, blend: 'screen' },
  ];
}

async function grainLayer(coarse: boolean, strength: number, seed: number): Promise<Buffer> {
  if (!coarse) {
    return grainNoise(OUTPUT_SIDE, OUTPUT_SIDE, strength, seed);
  }
  const half = OUTPUT_SIDE / 2;
  return sharp(grainNoise(half, half, strength, seed), { raw: { width: half, height: half, channels: 1 } })
    .resize(OUTPUT_SIDE, OUTPUT_SIDE, { kernel: 'cubic' })
    .raw()
    .toBuffer();
}
