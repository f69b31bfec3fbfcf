import { clamp } from './variation.js';

/** An sRGB colour with channels from 0 to 255. */
export interface Rgb {
  red: number;
  green: number;
  blue: number;
}

export function parseHex(hex: string): Rgb {
  const match = /^#([0-9a-f]{6})$/i.exec(hex);
  if (match === null) {
    throw new RangeError(`Colour must be #rrggbb, got "${hex}"`);
  }
  const value = Number.parseInt(match[1]!, 16);
  return { red: (value >> 16) & 0xff, green: (value >> 8) & 0xff, blue: value & 0xff };
}

export function toHex(colour: Rgb): string {
  const channel = (value: number) => Math.round(clamp(value, 0, 255)).toString(16).padStart(2, '0');
  return `#${channel(colour.red)}${channel(colour.green)}${channel(colour.blue)}`;
}

/** Rotates a colour's hue by `degrees` in HSL, keeping its saturation and lightness. */
export function rotateHue(hex: string, degrees: number): string {
  const { red, green, blue } = parseHex(hex);
  const [hue, saturation, lightness] = rgbToHsl(red / 255, green / 255, blue / 255);
  const rotated = (((hue + degrees / 360) % 1) + 1) % 1;
  const [r, g, b] = hslToRgb(rotated, saturation, lightness);
  return toHex({ red: r * 255, green: g * 255, blue: b * 255 });
}

/** Mixes two colours: `amount` 0 gives `from`, 1 gives `to`. */
export function mix(from: string, to: string, amount: number): string {
  const a = parseHex(from);
  const b = parseHex(to);
  return toHex({
    red: a.red + (b.red - a.red) * amount,
    green: a.green + (b.green - a.green) * amount,
    blue: a.blue + (b.blue - a.blue) * amount,
  });
}

function rgbToHsl(red: number, green: number, blue: number): [number, number, number] {
  const maximum = Math.max(red, green, blue);
  const minimum = Math.min(red, green, blue);
  const lightness = (maximum + minimum) / 2;
  const delta = maximum - minimum;
  if (delta === 0) {
    return [0, 0, lightness];
  }
  const saturation = lightness > 0.5 ? delta / (2 - maximum - minimum) : delta / (maximum + minimum);
  let hue: number;
  if (maximum === red) {
    hue = (green - blue) / delta + (green < blue ? 6 : 0);
  } else if (maximum === green) {
    hue = (blue - red) / delta + 2;
  } else {
    hue = (red - green) / delta + 4;
  }
  return [hue / 6, saturation, lightness];
}

function hslToRgb(hue: number, saturation: number, lightness: number): [number, number, number] {
  if (saturation === 0) {
    return [lightness, lightness, lightness];
  }
  const q = lightness < 0.5 ? lightness * (1 + saturation) : lightness + saturation - lightness * saturation;
  const p = 2 * lightness - q;
  return [hueToChannel(p, q, hue + 1 / 3), hueToChannel(p, q, hue), hueToChannel(p, q, hue - 1 / 3)];
}

function hueToChannel(p: number, q: number, t: number): number {
  let wrapped = t;
  if (wrapped < 0) {
    wrapped += 1;
  } else if (wrapped > 1) {
    wrapped -= 1;
  }
  if (wrapped < 1 / 6) {
    return p + (q - p) * 6 * wrapped;
  }
  if (wrapped < 1 / 2) {
    return q;
  }
  if (wrapped < 2 / 3) {
    return p + (q - p) * (2 / 3 - wrapped) * 6;
  }
  return p;
}
