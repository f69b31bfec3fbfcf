import { mix, rotateHue } from './colour.js';
import type { Look } from './looks.js';
import { SeededRandom, seedFrom } from './variation.js';

/** The choices that follow from the prompt alone, so every image of one prompt shares a scene. */
export interface ScenePlan {
  backdrop: [string, string];
  lights: [string, string];
  accent: string;
  /** Side the key light or the sun comes from: -1 left, 1 right. */
  lightSide: -1 | 1;
  /** Height of the key light or the sun as a fraction of the output side, from the top. */
  lightHeight: number;
  /** Turn of the sunburst and halftone patterns, in degrees. */
  patternAngle: number;
}

/** The choices that follow from the prompt, the seed and the image's position in the batch. */
export interface ShotPlan {
  faceFraction: number;
  /** Shift of the frame's centre from the subject, as a fraction of the frame; small, so the face stays central. */
  offsetX: number;
  offsetY: number;
  tiltDegrees: number;
  mirrored: boolean;
  /** Seeds the grain, dust and sparkles. */
  textureSeed: number;
}

/** Colour words a prompt may use, and the light colour each one gives. */
const PROMPT_COLOURS: ReadonlyArray<[RegExp, string]> = [
  [/\b(red|crimson|scarlet)\b/i, '#ff3b30'],
  [/\b(orange|amber)\b/i, '#ff9500'],
  [/\b(gold|golden|yellow)\b/i, '#ffcc33'],
  [/\b(green|emerald|jade)\b/i, '#34c759'],
  [/\b(teal|turquoise|cyan)\b/i, '#30d5c8'],
  [/\b(blue|azure|sapphire)\b/i, '#2f7bff'],
  [/\b(purple|violet|lavender)\b/i, '#9b59ff'],
  [/\b(pink|magenta|rose)\b/i, '#ff4fa3'],
];

/**
 * Derives the scene from the pack and prompt: the palette's hue turns by up to the look's jitter, and a
 * colour word in the prompt (the one that comes first) tints the main light. Looks with no hue jitter,
 * such as sepia, keep their palette.
 */
export function planScene(look: Look, packName: string, prompt: string, negativePrompt: string | null): ScenePlan {
  const random = new SeededRandom(seedFrom('scene', packName, prompt, negativePrompt ?? ''));
  const jitter = look.palette.hueJitterDegrees;
  const hueShift = jitter === 0 ? 0 : random.between(-jitter, jitter);
  const turn = (colour: string) => (hueShift === 0 ? colour : rotateHue(colour, hueShift));

  const lights: [string, string] = [turn(look.palette.lights[0]), turn(look.palette.lights[1])];
  const promptColour = jitter === 0 ? undefined : firstColourWord(prompt);
  if (promptColour !== undefined) {
    lights[0] = mix(lights[0], promptColour, 0.7);
  }

  return {
    backdrop: [turn(look.palette.backdrop[0]), turn(look.palette.backdrop[1])],
    lights,
    accent: turn(look.palette.accent),
    lightSide: random.chance(0.5) ? -1 : 1,
    lightHeight: random.between(0.12, 0.35),
    patternAngle: random.between(0, 360),
  };
}

export function planShot(look: Look, packName: string, prompt: string, seed: number, imageIndex: number): ShotPlan {
  const random = new SeededRandom(seedFrom('shot', packName, prompt, seed, imageIndex));
  const [smallest, largest] = look.framing.faceFraction;
  return {
    faceFraction: random.between(smallest, largest),
    offsetX: random.between(-0.02, 0.02),
    offsetY: random.between(-0.02, 0.02),
    tiltDegrees: look.framing.maxTiltDegrees === 0 ? 0 : random.between(-look.framing.maxTiltDegrees, look.framing.maxTiltDegrees),
    mirrored: look.framing.mirror && random.chance(0.5),
    textureSeed: seedFrom('texture', packName, prompt, seed, imageIndex),
  };
}

/**
 * Picks the prepared portrait for one image of a batch. Consecutive images take consecutive portraits,
 * from a starting point the prompt and seed pick, so one batch shows as many different photos as it can.
 */
export function portraitIndexFor(prompt: string, seed: number, imageIndex: number, portraitCount: number): number {
  return (seedFrom('portrait', prompt, seed) + imageIndex) % portraitCount;
}

function firstColourWord(prompt: string): string | undefined {
  let first: { position: number; colour: string } | undefined;
  for (const [pattern, colour] of PROMPT_COLOURS) {
    const match = pattern.exec(prompt);
    if (match !== null && (first === undefined || match.index < first.position)) {
      first = { position: match.index, colour };
    }
  }
  return first?.colour;
}
