/** A problem with one field of an imported catalog file, named by document path and field. */
export interface FieldProblem {
  /** `<document path>.<field>`, such as `CONFIGS/prompt_configs/packs/neon.num_prompts`. */
  field: string;
  message: string;
}

const MAX_URL_LENGTH = 2048;

/** Shows a received value in a message, shortened so a huge value cannot flood the output. */
export function describeValue(value: unknown): string {
  if (value === undefined) {
    return 'nothing';
  }
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Returns null for an absolute http(s) URL of reasonable length, else what is wrong with it. */
export function urlProblem(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > MAX_URL_LENGTH) {
    return `must be an http or https URL of at most ${MAX_URL_LENGTH} characters, got ${describeValue(value)}`;
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return `must be an absolute http or https URL, got ${describeValue(value)}`;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    return `must be an http or https URL, got ${describeValue(value)}`;
  }
  return null;
}

/**
 * Reads the fields of one document and records every invalid one, so a single pass over the file reports
 * all problems. Each reader method returns undefined for a missing or invalid value.
 */
export class DocumentFieldReader {
  constructor(
    private readonly documentPath: string,
    private readonly fields: Record<string, unknown>,
    private readonly problems: FieldProblem[],
  ) {}

  report(field: string, message: string): void {
    this.problems.push({ field: `${this.documentPath}.${field}`, message });
  }

  /** Returns the field's value, or undefined when it is absent or null (a problem only when required). */
  private present(field: string, required: boolean, expected: string): unknown {
    const value = this.fields[field];
    if (value === undefined || value === null) {
      if (required) {
        this.report(field, `is missing: add ${expected}`);
      }
      return undefined;
    }
    return value;
  }

  string(field: string, options: { required: boolean; maxLength: number }): string | undefined {
    const value = this.present(field, options.required, `a string of 1 to ${options.maxLength} characters`);
    if (value === undefined) {
      return undefined;
    }
    if (typeof value !== 'string' || value.trim() === '' || value.length > options.maxLength) {
      this.report(field, `must be a string of 1 to ${options.maxLength} characters, got ${describeValue(value)}`);
      return undefined;
    }
    return value;
  }

  boolean(field: string, options: { required: boolean }): boolean | undefined {
    const value = this.present(field, options.required, 'true or false');
    if (value === undefined) {
      return undefined;
    }
    if (typeof value !== 'boolean') {
      this.report(field, `must be true or false (a JSON boolean), got ${describeValue(value)}`);
      return undefined;
    }
    return value;
  }

  integer(field: string, options: { required: boolean; minimum: number; maximum: number }): number | undefined {
    const range = `a whole number from ${options.minimum} to ${options.maximum}`;
    const value = this.present(field, options.required, range);
    if (value === undefined) {
      return undefined;
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < options.minimum || value > options.maximum) {
      this.report(field, `must be ${range}, got ${describeValue(value)}`);
      return undefined;
    }
    return value;
  }

  url(field: string, options: { required: boolean }): string | undefined {
    const value = this.present(field, options.required, 'an http or https URL');
    if (value === undefined) {
      return undefined;
    }
    const problem = urlProblem(value);
    if (problem !== null) {
      this.report(field, problem);
      return undefined;
    }
    return value as string;
  }

  /** Reads a list of URLs. With `minimumItems` 0 an empty list is valid. */
  urlList(field: string, options: { required: boolean; minimumItems: number; maximumItems: number }): string[] | undefined {
    const value = this.present(field, options.required, 'a list of http or https URLs');
    if (value === undefined) {
      return undefined;
    }
    if (!Array.isArray(value) || value.length < options.minimumItems || value.length > options.maximumItems) {
      this.report(
        field,
        `must be a list of ${options.minimumItems} to ${options.maximumItems} http or https URLs, got ${describeValue(value)}`,
      );
      return undefined;
    }
    let valid = true;
    value.forEach((item, index) => {
      const problem = urlProblem(item);
      if (problem !== null) {
        this.report(`${field}[${index}]`, problem);
        valid = false;
      }
    });
    return valid ? (value as string[]) : undefined;
  }
}
