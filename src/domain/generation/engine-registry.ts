import type { GenerationEngine } from '../../adapters/engines/generation-engine.js';

/** The generation engines this process can run, by name, and the one packs use unless they name another. */
export class EngineRegistry {
  private readonly engines = new Map<string, GenerationEngine>();

  constructor(
    engines: GenerationEngine[],
    readonly defaultEngineName: string,
  ) {
    for (const engine of engines) {
      this.engines.set(engine.name, engine);
    }
  }

  /** The engine for a pack whose `engine` column is `packEngine` (null for the default). */
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
