/** A 3×3 matrix applied to each pixel's RGB, one row per output channel (sharp's `recomb`). */
export type ColourMatrix = [[number, number, number], [number, number, number], [number, number, number]];

export type BackdropShape = 'none' | 'radial' | 'vertical' | 'studio' | 'sunburst' | 'grid';
export type LightKind = 'none' | 'rim-pair' | 'key' | 'sun' | 'glow';
export type TextureKind = 'grain' | 'coarse-grain' | 'scanlines' | 'halftone' | 'canvas' | 'dust' | 'sparkles';
export type FrameKind = 'none' | 'border' | 'rounded';

/**
 * A pack's visual style, as data. The renderer reads it top to bottom: framing, colour grading, stylising,
 * backdrop, light, textures, vignette, frame. Ranges are picked within by the prompt or the seed.
 */
export interface Look {
  /** One line for the documentation. */
  summary: string;
  framing: {
    /** Face height as a fraction of the output side; the seed picks within the range. */
    faceFraction: [number, number];
    /** Largest camera tilt in degrees either way. */
    maxTiltDegrees: number;
    /** Whether the seed may flip the photo left to right. */
    mirror: boolean;
  };
  grade: {
    /** sharp `modulate` multipliers. */
    brightness: number;
    saturation: number;
    /** Contrast slope around mid-grey; 1 leaves it unchanged. */
    contrast: number;
    /** Added to every channel after contrast, 0–255 scale; positive values fade the blacks. */
    lift: number;
    matrix?: ColourMatrix;
    /** Converts to greyscale and tints with this colour. */
    monochrome?: string;
    /** Luma levels after grading: flat, cel-shaded tones. */
    posterizeLevels?: number;
    /** Dark lines along edges, as in inked art. */
    outline?: boolean;
    /** sharp `median` window, applied at half size: a painterly smoothing of small detail. */
    painterly?: number;
    sharpen?: boolean;
    /** Strength (0–1) of a blurred copy added with `screen`: a soft glow around highlights. */
    bloom?: number;
    /** Strength (0–1) of two mirrored, faded copies of the subject to each side, as in a double exposure. */
    ghost?: number;
  };
  palette: {
    /** Backdrop colours from the centre or top (first) to the edge or bottom (second). */
    backdrop: [string, string];
    /** Light colours; `rim-pair` uses both, the other kinds the first. */
    lights: [string, string];
    /** Colour of patterns and accents: grid lines, sparkles, the frame. */
    accent: string;
    /** The prompt rotates every palette colour's hue by up to this many degrees either way. */
    hueJitterDegrees: number;
  };
  backdrop: {
    shape: BackdropShape;
    /** How much of the photo's own background the backdrop covers, 0–1. */
    opacity: number;
  };
  light: {
    kind: LightKind;
    strength: number;
  };
  textures: Array<{ kind: TextureKind; strength: number }>;
  /** Darkness of the corners, 0–1. */
  vignette: number;
  frame: {
    kind: FrameKind;
    /** Width as a fraction of the output side. */
    width: number;
    /** A lighter line along the inside edge, as on a gilt picture frame. */
    innerLine?: boolean;
  };
}

/** Pack names are the `pack_name` values of the seeded catalog. */
export const LOOKS: Readonly<Record<string, Look>> = {
  neon: {
    summary: 'Neonpunk: night-dark grade, magenta and cyan rim lights, deep purple backdrop, scanlines.',
    framing: { faceFraction: [0.3, 0.38], maxTiltDegrees: 0, mirror: true },
    grade: {
      brightness: 0.82,
      saturation: 1.5,
      contrast: 1.35,
      lift: -12,
      matrix: [
        [1.05, 0, 0.12],
        [0, 0.88, 0.1],
        [0.12, 0.05, 1.15],
      ],
    },
    palette: { backdrop: ['#2a0a4a', '#05000c'], lights: ['#ff2bd6', '#00e1ff'], accent: '#ff2bd6', hueJitterDegrees: 30 },
    backdrop: { shape: 'radial', opacity: 0.85 },
    light: { kind: 'rim-pair', strength: 0.9 },
    textures: [
      { kind: 'scanlines', strength: 0.2 },
      { kind: 'grain', strength: 0.06 },
    ],
    vignette: 0.7,
    frame: { kind: 'none', width: 0 },
  },
  gta: {
    summary: 'GTA cover art: posterised, saturated colour, inked outlines, a sunset sky, a thick black border.',
    framing: { faceFraction: [0.28, 0.36], maxTiltDegrees: 4, mirror: true },
    grade: { brightness: 1, saturation: 1.6, contrast: 1.15, lift: 0, painterly: 5, posterizeLevels: 7, outline: true },
    palette: { backdrop: ['#ffb347', '#ff3f7f'], lights: ['#ffe29a', '#5ad1ff'], accent: '#111111', hueJitterDegrees: 35 },
    backdrop: { shape: 'vertical', opacity: 0.8 },
    light: { kind: 'key', strength: 0.45 },
    textures: [],
    vignette: 0.2,
    frame: { kind: 'border', width: 0.022 },
  },
  historical: {
    summary: 'Renaissance oil painting: warm umber grade, chiaroscuro key light, painterly smoothing, canvas weave, a gilt frame.',
    framing: { faceFraction: [0.26, 0.32], maxTiltDegrees: 0, mirror: false },
    grade: {
      brightness: 0.95,
      saturation: 0.75,
      contrast: 1.15,
      lift: -4,
      painterly: 3,
      matrix: [
        [1.1, 0.06, 0],
        [0.03, 1, 0],
        [0, 0.06, 0.78],
      ],
    },
    palette: { backdrop: ['#4a3520', '#120b05'], lights: ['#ffd9a0', '#ffd9a0'], accent: '#b08a3e', hueJitterDegrees: 12 },
    backdrop: { shape: 'radial', opacity: 0.85 },
    light: { kind: 'key', strength: 0.6 },
    textures: [
      { kind: 'canvas', strength: 0.3 },
      { kind: 'grain', strength: 0.04 },
    ],
    vignette: 0.85,
    frame: { kind: 'border', width: 0.03, innerLine: true },
  },
  fashion: {
    summary: 'Fashion editorial: crisp high-key contrast, a flat colour-block backdrop, a white border.',
    framing: { faceFraction: [0.24, 0.3], maxTiltDegrees: 2, mirror: false },
    grade: { brightness: 1.08, saturation: 1.15, contrast: 1.25, lift: 0, sharpen: true },
    palette: { backdrop: ['#f7b6d2', '#e987b4'], lights: ['#fff4e8', '#fff4e8'], accent: '#ffffff', hueJitterDegrees: 180 },
    backdrop: { shape: 'vertical', opacity: 0.95 },
    light: { kind: 'key', strength: 0.5 },
    textures: [{ kind: 'grain', strength: 0.04 }],
    vignette: 0.1,
    frame: { kind: 'border', width: 0.03 },
  },
  modern: {
    summary: 'Modern lifestyle: teal-and-orange grade, matte lifted blacks, a cool slate backdrop, soft window light.',
    framing: { faceFraction: [0.3, 0.36], maxTiltDegrees: 0, mirror: false },
    grade: {
      brightness: 1,
      saturation: 0.85,
      contrast: 1.02,
      lift: 18,
      matrix: [
        [1.12, 0.04, -0.1],
        [-0.04, 1.04, 0.02],
        [-0.08, 0.12, 1.08],
      ],
    },
    palette: { backdrop: ['#b9c9d2', '#5f7886'], lights: ['#ffd9aa', '#ffd9aa'], accent: '#5f7886', hueJitterDegrees: 20 },
    backdrop: { shape: 'vertical', opacity: 0.85 },
    light: { kind: 'key', strength: 0.4 },
    textures: [{ kind: 'grain', strength: 0.03 }],
    vignette: 0.25,
    frame: { kind: 'none', width: 0 },
  },
  fantasy: {
    summary: 'Fantasy: violet and gold, glowing highlights, a magic aura around the subject, sparkles.',
    framing: { faceFraction: [0.28, 0.34], maxTiltDegrees: 0, mirror: true },
    grade: {
      brightness: 1.04,
      saturation: 1.3,
      contrast: 1.1,
      lift: 0,
      bloom: 0.45,
      matrix: [
        [1.05, 0, 0.08],
        [0, 0.95, 0.05],
        [0.08, 0, 1.12],
      ],
    },
    palette: { backdrop: ['#6a3fb5', '#1b0b3a'], lights: ['#ffcf6b', '#b38cff'], accent: '#ffe9a8', hueJitterDegrees: 40 },
    backdrop: { shape: 'radial', opacity: 0.8 },
    light: { kind: 'glow', strength: 0.6 },
    textures: [{ kind: 'sparkles', strength: 0.8 }],
    vignette: 0.5,
    frame: { kind: 'none', width: 0 },
  },
  headshots: {
    summary: 'Professional headshot: true-to-life colour, a grey studio backdrop lit behind the head, tight framing.',
    framing: { faceFraction: [0.4, 0.46], maxTiltDegrees: 0, mirror: false },
    grade: {
      brightness: 1.04,
      saturation: 1,
      contrast: 1.08,
      lift: 0,
      sharpen: true,
      matrix: [
        [1.03, 0.01, 0],
        [0, 1, 0],
        [0, 0, 0.97],
      ],
    },
    palette: { backdrop: ['#9aa3ad', '#3b424c'], lights: ['#fff8ee', '#fff8ee'], accent: '#3b424c', hueJitterDegrees: 15 },
    backdrop: { shape: 'studio', opacity: 0.92 },
    light: { kind: 'key', strength: 0.35 },
    textures: [],
    vignette: 0.2,
    frame: { kind: 'none', width: 0 },
  },
  characters: {
    summary: 'Comic-book character: flat posterised colour, inked outlines, halftone dots, a sunburst, a black border.',
    framing: { faceFraction: [0.3, 0.38], maxTiltDegrees: 5, mirror: true },
    grade: { brightness: 1.02, saturation: 1.45, contrast: 1.15, lift: 0, painterly: 5, posterizeLevels: 5, outline: true },
    palette: { backdrop: ['#ffd400', '#ff5a1f'], lights: ['#fff3b0', '#fff3b0'], accent: '#111111', hueJitterDegrees: 90 },
    backdrop: { shape: 'sunburst', opacity: 0.9 },
    light: { kind: 'none', strength: 0 },
    textures: [{ kind: 'halftone', strength: 0.35 }],
    vignette: 0,
    frame: { kind: 'border', width: 0.016 },
  },
  science: {
    summary: 'Science fiction: cold cyan grade, a holographic grid backdrop, blue rim lights, scanlines.',
    framing: { faceFraction: [0.3, 0.36], maxTiltDegrees: 0, mirror: true },
    grade: {
      brightness: 0.92,
      saturation: 0.8,
      contrast: 1.2,
      lift: -6,
      matrix: [
        [0.88, 0, 0],
        [0, 1.02, 0.06],
        [0, 0.1, 1.18],
      ],
    },
    palette: { backdrop: ['#083447', '#01070d'], lights: ['#39f3ff', '#2c6bff'], accent: '#39f3ff', hueJitterDegrees: 20 },
    backdrop: { shape: 'grid', opacity: 0.88 },
    light: { kind: 'rim-pair', strength: 0.6 },
    textures: [{ kind: 'scanlines', strength: 0.14 }],
    vignette: 0.55,
    frame: { kind: 'none', width: 0 },
  },
  seven_wonders: {
    summary: 'Travel at golden hour: warm sunlight with a sun flare, a sky-to-sand backdrop, wide framing.',
    framing: { faceFraction: [0.2, 0.26], maxTiltDegrees: 0, mirror: false },
    grade: {
      brightness: 1.06,
      saturation: 1.2,
      contrast: 1.08,
      lift: 4,
      matrix: [
        [1.1, 0.05, 0],
        [0.02, 1.02, 0],
        [0, 0, 0.85],
      ],
    },
    palette: { backdrop: ['#7ec8f0', '#e8c07a'], lights: ['#fff0c0', '#ffb45e'], accent: '#e8c07a', hueJitterDegrees: 10 },
    backdrop: { shape: 'vertical', opacity: 0.75 },
    light: { kind: 'sun', strength: 0.8 },
    textures: [{ kind: 'grain', strength: 0.03 }],
    vignette: 0.3,
    frame: { kind: 'none', width: 0 },
  },
  doppleganger: {
    summary: 'Doppelgänger: a double exposure with mirrored ghosts of the subject, a split red and cyan light.',
    framing: { faceFraction: [0.26, 0.32], maxTiltDegrees: 0, mirror: false },
    grade: {
      brightness: 0.95,
      saturation: 0.6,
      contrast: 1.2,
      lift: 0,
      ghost: 0.4,
      matrix: [
        [1, 0.05, 0.05],
        [0.05, 0.95, 0.05],
        [0.05, 0.1, 1.05],
      ],
    },
    palette: { backdrop: ['#1d2b3a', '#05080c'], lights: ['#ff4d4d', '#3dd6ff'], accent: '#3dd6ff', hueJitterDegrees: 25 },
    backdrop: { shape: 'radial', opacity: 0.6 },
    light: { kind: 'rim-pair', strength: 0.55 },
    textures: [{ kind: 'grain', strength: 0.05 }],
    vignette: 0.5,
    frame: { kind: 'none', width: 0 },
  },
  old: {
    summary: 'Olden times: sepia monochrome, faded blacks, coarse grain, dust and scratches, a cream border with round corners.',
    framing: { faceFraction: [0.28, 0.34], maxTiltDegrees: 0, mirror: false },
    grade: { brightness: 1.02, saturation: 1, contrast: 0.85, lift: 22, monochrome: '#a8773f' },
    palette: { backdrop: ['#c9b08a', '#5a4630'], lights: ['#fff4dc', '#fff4dc'], accent: '#efe6d2', hueJitterDegrees: 0 },
    backdrop: { shape: 'radial', opacity: 0.5 },
    light: { kind: 'none', strength: 0 },
    textures: [
      { kind: 'coarse-grain', strength: 0.22 },
      { kind: 'dust', strength: 0.6 },
    ],
    vignette: 0.9,
    frame: { kind: 'rounded', width: 0.035 },
  },
};

/** The look of a pack this engine has no style for: the photo lightly graded, a soft vignette. */
export const NEUTRAL_LOOK: Look = {
  summary: 'Neutral: a light contrast lift, slight warmth, a soft vignette; the photo\'s own background stays.',
  framing: { faceFraction: [0.3, 0.36], maxTiltDegrees: 0, mirror: false },
  grade: { brightness: 1.02, saturation: 1.05, contrast: 1.06, lift: 0 },
  palette: { backdrop: ['#808080', '#404040'], lights: ['#fff4e0', '#fff4e0'], accent: '#808080', hueJitterDegrees: 0 },
  backdrop: { shape: 'none', opacity: 0 },
  light: { kind: 'none', strength: 0 },
  textures: [{ kind: 'grain', strength: 0.02 }],
  vignette: 0.25,
  frame: { kind: 'none', width: 0 },
};

export function lookForPack(packName: string): Look {
  return Object.hasOwn(LOOKS, packName) ? LOOKS[packName]! : NEUTRAL_LOOK;
}
