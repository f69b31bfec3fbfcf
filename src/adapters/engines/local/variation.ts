import { createHash } from 'node:crypto';

/**
 * A deterministic pseudo-random sequence: a Weyl sequence on 32 bits passed through the MurmurHash3
 * finaliser. Far from cryptographic, but well spread, fast, and identical on every platform, which is
 * what the local engine needs for "the same inputs give the same bytes".
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Returns the next number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let mixed = this.state;
    mixed = Math.imul(mixed ^ (mixed >>> 16), 0x85ebca6b);
    mixed = Math.imul(mixed ^ (mixed >>> 13), 0xc2b2ae35);
    mixed = (mixed ^ (mixed >>> 16)) >>> 0;
    return mixed / 2 ** 32;
  }

  between(minimum: number, maximum: number): number {
    return minimum + (maximum - minimum) * this.next();
  }

  /** Returns a whole number from 0 to `count - 1`. */
  index(count: number): number {
    return Math.floor(this.next() * count);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.index(items.length)];
    if (item === undefined) {
      throw new RangeError('SeededRandom.pick needs at least one item');
    }
    return item;
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }
}

/** Derives a 32-bit seed from the SHA-256 of the parts, so any text or number can seed a sequence. */
export function seedFrom(...parts: Array<string | number>): number {
  const digest = createHash('sha256').update(parts.map(String).join('\u0000')).digest();
  return digest.readUInt32LE(0);
}

/** Clamps `value` into [minimum, maximum]. */
export function clamp(value: number, minimum: number, maximum: number): number {
  return Math.min(maximum, Math.max(minimum, value));
}
