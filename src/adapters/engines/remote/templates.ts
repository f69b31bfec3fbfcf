/**
 * Templates with named placeholders, shared by the ComfyUI workflow and the Replicate input mapping.
 *
 * A placeholder is `{{name}}` inside a JSON string. A string that is exactly one placeholder is replaced
 * by the value with its type (`"{{seed}}"` becomes the number 42); a placeholder inside a longer string is
 * replaced by the value's text. Names:
 * - `prompt`, `negative_prompt` (an empty string when the pack has none), `seed`, `image_count`;
 * - `reference_image` (the first reference photo), `reference_image_N` (the Nth, from 1; photos repeat
 *   when the job has fewer), `reference_images` (all of them as an array; only as a whole string).
 */

const PLACEHOLDER = /\{\{\s*([a-z0-9_]+)\s*\}\}/g;
const WHOLE_PLACEHOLDER = /^\{\{\s*([a-z0-9_]+)\s*\}\}$/;
const SCALAR_NAMES = new Set(['prompt', 'negative_prompt', 'seed', 'image_count']);
const NUMBERED_REFERENCE = /^reference_image_([1-9][0-9]?)$/;

export interface TemplateValues {
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  imageCount: number;
  /** Reference photos in the form the engine sends them (file names, URLs or data URIs), best first. */
  referenceImages: unknown[];
}

/** Placeholder usage of a template, found once when it is loaded. */
export interface TemplateUsage {
  usesPrompt: boolean;
  /** When false, the engine makes one call per image, with seeds `seed`, `seed + 1`, … */
  usesImageCount: boolean;
  /** How many distinct reference photos the template places, at least 1 when it uses any. */
  referenceImageCount: number;
  usesReferenceList: boolean;
}

export class TemplateError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'TemplateError';
  }
}

/** Lists the placeholders in `template`; throws a TemplateError naming every unknown or misplaced one. */
export function inspectTemplate(template: unknown): TemplateUsage {
  const usage: TemplateUsage = { usesPrompt: false, usesImageCount: false, referenceImageCount: 0, usesReferenceList: false };
  const problems: string[] = [];

  visitStrings(template, '', (text, path) => {
    const whole = WHOLE_PLACEHOLDER.exec(text);
    for (const match of text.matchAll(PLACEHOLDER)) {
      const name = match[1]!;
      const numbered = NUMBERED_REFERENCE.exec(name);
      if (name === 'prompt') {
        usage.usesPrompt = true;
      } else if (name === 'image_count') {
        usage.usesImageCount = true;
      } else if (name === 'reference_image') {
        usage.referenceImageCount = Math.max(usage.referenceImageCount, 1);
      } else if (numbered !== null) {
        usage.referenceImageCount = Math.max(usage.referenceImageCount, Number(numbered[1]));
      } else if (name === 'reference_images') {
        usage.usesReferenceList = true;
        if (whole === null) {
          problems.push(`{{reference_images}} at ${path || '(root)'} must be the whole string, because it becomes an array`);
        }
      } else if (!SCALAR_NAMES.has(name)) {
        problems.push(`unknown placeholder {{${name}}} at ${path || '(root)'}`);
      }
    }
  });

  if (!usage.usesPrompt) {
    problems.push('the template has no {{prompt}} placeholder, so every pack would render the same image');
  }
  if (problems.length > 0) {
    throw new TemplateError(problems);
  }
  return usage;
}

/** Returns a copy of `template` with every placeholder replaced. The template itself is not changed. */
export function fillTemplate(template: unknown, values: TemplateValues): unknown {
  const lookup = (name: string): unknown => {
    if (name === 'prompt') {
      return values.prompt;
    }
    if (name === 'negative_prompt') {
      return values.negativePrompt ?? '';
    }
    if (name === 'seed') {
      return values.seed;
    }
    if (name === 'image_count') {
      return values.imageCount;
    }
    if (name === 'reference_images') {
      return values.referenceImages;
    }
    const numbered = NUMBERED_REFERENCE.exec(name);
    const position = name === 'reference_image' ? 1 : Number(numbered?.[1]);
    if (values.referenceImages.length === 0 || !Number.isInteger(position)) {
      throw new TemplateError([`no value for {{${name}}}`]);
    }
    return values.referenceImages[(position - 1) % values.referenceImages.length];
  };

  const fill = (node: unknown): unknown => {
    if (typeof node === 'string') {
      const whole = WHOLE_PLACEHOLDER.exec(node);
      if (whole !== null) {
        return lookup(whole[1]!);
      }
      return node.replace(PLACEHOLDER, (_match, name: string) => String(lookup(name)));
    }
    if (Array.isArray(node)) {
      return node.map(fill);
    }
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, fill(value)]));
    }
    return node;
  };

  return fill(template);
}

function visitStrings(node: unknown, path: string, visit: (text: string, path: string) => void): void {
  if (typeof node === 'string') {
    visit(node, path);
  } else if (Array.isArray(node)) {
    node.forEach((item, index) => visitStrings(item, `${path}[${index}]`, visit));
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      visitStrings(value, path === '' ? key : `${path}.${key}`, visit);
    }
  }
}
