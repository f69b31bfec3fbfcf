import { mix } from './colour.js';
import type { Look, TextureKind } from './looks.js';
import type { ScenePlan } from './plan.js';
import { SeededRandom } from './variation.js';

/**
 * SVG layers that sharp (librsvg) renders and composites over the graded photo. Every coordinate is in
 * output pixels; every random choice comes from a SeededRandom, so the same plan draws the same layer.
 */

/** Position and size of the subject in the output, in pixels. */
export interface SubjectPlacement {
  /** `face` when placed by a face box, `salient` when by sharp's attention point, which has no known shape. */
  kind: 'face' | 'salient';
  centreX: number;
  centreY: number;
  /** Face height, or the salient region's size. */
  faceSize: number;
}

export function svgDocument(side: number, defs: string, body: string): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}" viewBox="0 0 ${side} ${side}">` +
      `<defs>${defs}</defs>${body}</svg>`,
  );
}

/**
 * Draws the backdrop: the look's gradient or pattern over the whole image. The renderer gives it an alpha
 * channel from `backdropMatte`, so it covers the photo's background and leaves the subject.
 */
export function backdropLayer(look: Look, scene: ScenePlan, subject: SubjectPlacement, side: number): Buffer | null {
  const shape = look.backdrop.shape;
  if (shape === 'none' || look.backdrop.opacity === 0) {
    return null;
  }
  const { centreX, centreY, faceSize } = subject;
  const [inner, outer] = scene.backdrop;
  let defs = '';
  let fill: string;
  let extra = '';
  switch (shape) {
    case 'radial':
    case 'grid':
      defs += radialGradient('backdrop', centreX, centreY - 0.2 * faceSize, side * 0.75, [
        [0, inner],
        [1, outer],
      ]);
      fill = `<rect width="${side}" height="${side}" fill="url(#backdrop)"/>`;
      if (shape === 'grid') {
        extra = gridLines(scene.accent, side);
      }
      break;
    case 'studio':
      defs += radialGradient('backdrop', centreX, centreY - 0.3 * faceSize, side * 0.8, [
        [0, mix(inner, '#ffffff', 0.18)],
        [0.55, inner],
        [1, outer],
      ]);
      fill = `<rect width="${side}" height="${side}" fill="url(#backdrop)"/>`;
      break;
    case 'vertical':
      defs += `<linearGradient id="backdrop" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${inner}"/>` +
        `<stop offset="1" stop-color="${outer}"/></linearGradient>`;
      fill = `<rect width="${side}" height="${side}" fill="url(#backdrop)"/>`;
      break;
    case 'sunburst':
      fill = `<rect width="${side}" height="${side}" fill="${outer}"/>` + sunburstRays(inner, centreX, centreY, side, scene.patternAngle);
      break;
  }
  return svgDocument(side, defs, fill + extra);
}

/** Draws the light, and returns it with the blend mode to composite it with. */
export function lightLayer(
  look: Look,
  scene: ScenePlan,
  subject: SubjectPlacement,
  side: number,
): { svg: Buffer; blend: 'screen' | 'soft-light' } | null {
  const { kind, strength } = look.light;
  const [first, second] = scene.lights;
  const { centreX, centreY, faceSize } = subject;
  switch (kind) {
    case 'none':
      return null;
    case 'rim-pair': {
      const defs =
        `<linearGradient id="left" x1="0" y1="0" x2="1" y2="0"><stop offset="0" stop-color="${first}" stop-opacity="${strength}"/>` +
        `<stop offset="0.45" stop-color="${first}" stop-opacity="0"/></linearGradient>` +
        `<linearGradient id="right" x1="1" y1="0" x2="0" y2="0"><stop offset="0" stop-color="${second}" stop-opacity="${strength}"/>` +
        `<stop offset="0.45" stop-color="${second}" stop-opacity="0"/></linearGradient>`;
      return {
        svg: svgDocument(side, defs, `<rect width="${side}" height="${side}" fill="url(#left)"/><rect width="${side}" height="${side}" fill="url(#right)"/>`),
        blend: 'screen',
      };
    }
    case 'key': {
      const lightX = centreX + scene.lightSide * faceSize * 0.9;
      const shadowX = centreX - scene.lightSide * faceSize * 1.6;
      const defs =
        radialGradient('key', lightX, centreY - faceSize * 0.6, side * 0.55, [
          [0, first, strength],
          [1, first, 0],
        ]) +
        radialGradient('shadow', shadowX, centreY + faceSize * 0.4, side * 0.6, [
          [0, '#000000', strength * 0.8],
          [1, '#000000', 0],
        ]);
      return {
        svg: svgDocument(side, defs, `<rect width="${side}" height="${side}" fill="url(#shadow)"/><rect width="${side}" height="${side}" fill="url(#key)"/>`),
        blend: 'soft-light',
      };
    }
    case 'sun': {
      const sunX = side / 2 + scene.lightSide * side * 0.42;
      const sunY = side * scene.lightHeight * 0.6;
      const flares = [0.35, 0.6, 0.85]
        .map((along, index) => {
          const x = sunX + (side / 2 - sunX) * along * 2;
          const y = sunY + (side * 0.75 - sunY) * along;
          return `<circle cx="${x}" cy="${y}" r="${side * (0.02 + 0.015 * index)}" fill="${second}" fill-opacity="${0.18 * strength}"/>`;
        })
        .join('');
      const defs = radialGradient('sun', sunX, sunY, side * 0.55, [
        [0, first, strength],
        [0.25, first, strength * 0.5],
        [1, second, 0],
      ]);
      return { svg: svgDocument(side, defs, `<rect width="${side}" height="${side}" fill="url(#sun)"/>${flares}`), blend: 'screen' };
    }
    case 'glow': {
      const defs = radialGradient('glow', centreX, centreY, faceSize * 2.6, [
        [0, first, 0],
        [0.45, first, strength * 0.25],
        [0.7, second, strength * 0.55],
        [1, second, 0],
      ]);
      return { svg: svgDocument(side, defs, `<rect width="${side}" height="${side}" fill="url(#glow)"/>`), blend: 'screen' };
    }
  }
}

/** Draws a pattern or scattered marks for one texture. Grain and halftone are made from pixels instead (see pixels.ts). */
export function patternLayer(
  kind: Exclude<TextureKind, 'grain' | 'coarse-grain' | 'halftone'>,
  strength: number,
  scene: ScenePlan,
  subject: SubjectPlacement,
  side: number,
  seed: number,
): { svg: Buffer; blend: 'over' | 'soft-light' | 'screen' } {
  const random = new SeededRandom(seed);
  switch (kind) {
    case 'scanlines': {
      const defs = `<pattern id="lines" width="4" height="4" patternUnits="userSpaceOnUse"><rect width="4" height="1.5" fill="#000" fill-opacity="${strength}"/></pattern>`;
      return { svg: svgDocument(side, defs, `<rect width="${side}" height="${side}" fill="url(#lines)"/>`), blend: 'over' };
    }
    case 'canvas': {
      const defs =
        `<pattern id="weave" width="6" height="6" patternUnits="userSpaceOnUse">` +
        `<rect width="6" height="3" fill="#fff" fill-opacity="${strength}"/><rect y="3" width="6" height="3" fill="#000" fill-opacity="${strength}"/>` +
        `<rect width="3" height="6" fill="#000" fill-opacity="${strength * 0.6}"/></pattern>`;
      return { svg: svgDocument(side, defs, `<rect width="${side}" height="${side}" fill="url(#weave)"/>`), blend: 'soft-light' };
    }
    case 'dust': {
      const specks = Array.from({ length: 140 }, () => {
        const radius = random.between(0.6, 2.8);
        const shade = random.chance(0.7) ? '#1b130b' : '#fffaf0';
        return `<circle cx="${random.between(0, side).toFixed(1)}" cy="${random.between(0, side).toFixed(1)}" r="${radius.toFixed(2)}" fill="${shade}" fill-opacity="${(strength * random.between(0.4, 1)).toFixed(2)}"/>`;
      });
      const scratches = Array.from({ length: 5 }, () => {
        const x = random.between(0, side);
        const drift = random.between(-12, 12);
        const top = random.between(0, side * 0.5);
        return `<line x1="${x.toFixed(1)}" y1="${top.toFixed(1)}" x2="${(x + drift).toFixed(1)}" y2="${(top + random.between(side * 0.3, side)).toFixed(1)}" stroke="#fffaf0" stroke-width="${random.between(0.6, 1.6).toFixed(2)}" stroke-opacity="${(strength * 0.6).toFixed(2)}"/>`;
      });
      return { svg: svgDocument(side, '', specks.join('') + scratches.join('')), blend: 'over' };
    }
    case 'sparkles': {
      const defs = `<radialGradient id="spark"><stop offset="0" stop-color="#fff" stop-opacity="1"/><stop offset="0.3" stop-color="${scene.accent}" stop-opacity="0.8"/><stop offset="1" stop-color="${scene.accent}" stop-opacity="0"/></radialGradient>`;
      const marks: string[] = [];
      while (marks.length < 46) {
        const x = random.between(0, side);
        const y = random.between(0, side);
        // Sparkles stay off the face, which must remain recognisable.
        if (Math.hypot(x - subject.centreX, (y - subject.centreY) / 1.3) < subject.faceSize * 0.9) {
          continue;
        }
        const radius = random.between(3, 16);
        marks.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${radius.toFixed(1)}" fill="url(#spark)" opacity="${strength}"/>`);
        if (radius > 11) {
          marks.push(starPath(x, y, radius * 2.6, scene.accent, strength));
        }
      }
      return { svg: svgDocument(side, defs, marks.join('')), blend: 'screen' };
    }
  }
}

/** Darkens towards the corners. */
export function vignetteLayer(strength: number, side: number): Buffer | null {
  if (strength === 0) {
    return null;
  }
  const defs = radialGradient('vignette', side / 2, side / 2, side * 0.72, [
    [0, '#000000', 0],
    [0.6, '#000000', 0],
    [1, '#000000', strength],
  ]);
  return svgDocument(side, defs, `<rect width="${side}" height="${side}" fill="url(#vignette)"/>`);
}

export function frameLayer(look: Look, scene: ScenePlan, side: number): Buffer | null {
  const { kind, width: fraction } = look.frame;
  if (kind === 'none') {
    return null;
  }
  const width = Math.round(side * fraction);
  const inner = side - 2 * width;
  const radius = kind === 'rounded' ? width * 1.6 : 0;
  // The even-odd rule leaves the inner rectangle empty, so only the border is painted.
  const path =
    `M0 0H${side}V${side}H0Z ` +
    `M${width + radius} ${width}H${width + inner - radius}` +
    (radius > 0 ? `A${radius} ${radius} 0 0 1 ${width + inner} ${width + radius}` : '') +
    `V${width + inner - radius}` +
    (radius > 0 ? `A${radius} ${radius} 0 0 1 ${width + inner - radius} ${width + inner}` : '') +
    `H${width + radius}` +
    (radius > 0 ? `A${radius} ${radius} 0 0 1 ${width} ${width + inner - radius}` : '') +
    `V${width + radius}` +
    (radius > 0 ? `A${radius} ${radius} 0 0 1 ${width + radius} ${width}` : '') +
    'Z';
  const edge = look.frame.innerLine === true
    ? `<rect x="${width - 3}" y="${width - 3}" width="${inner + 6}" height="${inner + 6}" fill="none" stroke="${mix(scene.accent, '#ffffff', 0.35)}" stroke-width="3"/>`
    : '';
  return svgDocument(side, '', `<path d="${path}" fill="${scene.accent}" fill-rule="evenodd"/>${edge}`);
}

type GradientStop = [offset: number, colour: string, opacity?: number];

function radialGradient(id: string, centreX: number, centreY: number, radius: number, stops: GradientStop[]): string {
  const stopElements = stops
    .map(([offset, colour, opacity]) => `<stop offset="${offset}" stop-color="${colour}" stop-opacity="${opacity ?? 1}"/>`)
    .join('');
  return `<radialGradient id="${id}" gradientUnits="userSpaceOnUse" cx="${centreX}" cy="${centreY}" r="${radius}">${stopElements}</radialGradient>`;
}

function gridLines(colour: string, side: number): string {
  const lines: string[] = [];
  for (let position = 0; position <= side; position += 48) {
    lines.push(`<line x1="${position}" y1="0" x2="${position}" y2="${side}"/>`, `<line x1="0" y1="${position}" x2="${side}" y2="${position}"/>`);
  }
  return `<g stroke="${colour}" stroke-opacity="0.35" stroke-width="1.5">${lines.join('')}</g>`;
}

function sunburstRays(colour: string, centreX: number, centreY: number, side: number, angle: number): string {
  const rays = 18;
  const reach = side * 1.5;
  const wedges: string[] = [];
  for (let ray = 0; ray < rays; ray += 1) {
    const start = ((angle + (ray * 360) / rays) * Math.PI) / 180;
    const end = start + Math.PI / rays;
    wedges.push(
      `<path d="M${centreX} ${centreY}L${(centreX + reach * Math.cos(start)).toFixed(1)} ${(centreY + reach * Math.sin(start)).toFixed(1)}` +
        `L${(centreX + reach * Math.cos(end)).toFixed(1)} ${(centreY + reach * Math.sin(end)).toFixed(1)}Z" fill="${colour}"/>`,
    );
  }
  return wedges.join('');
}

function starPath(x: number, y: number, size: number, colour: string, opacity: number): string {
  const arm = size / 2;
  const waist = size / 14;
  const points = [
    [x, y - arm],
    [x + waist, y - waist],
    [x + arm, y],
    [x + waist, y + waist],
    [x, y + arm],
    [x - waist, y + waist],
    [x - arm, y],
    [x - waist, y - waist],
  ]
    .map(([px, py]) => `${px!.toFixed(1)},${py!.toFixed(1)}`)
    .join(' ');
  return `<polygon points="${points}" fill="${mix(colour, '#ffffff', 0.6)}" fill-opacity="${opacity}"/>`;
}
