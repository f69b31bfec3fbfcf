import type { GenerationEngine } from '../../adapters/engines/generation-engine.js';

/** The generation engines this process can run, by name, and the one packs use unless they name another. */
export class EngineRegistry {
  private readonly engines: Map<string, GenerationEngine>;

  constructor(
    engines: Record<string, GenerationEngine>,
    readonly defaultEngineName: string,
  ) {
    this.engines = new Map(Object.entries(engines));
  }

  /** Returns the engine name for a pack whose `engine` column is `packEngine` (null for the default). */
  engineNameFor(packEngine: string | null): string {
    return packEngine ?? this.defaultEngineName;
  }

  get(name: string): GenerationEngine | undefined {
    return this.engines.get(name);
  }

  names(): string[] {
    return [...this.engines.keys()];
  }
}
