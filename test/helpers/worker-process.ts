// A generation worker process for tests: `envision worker` with a scripted engine whose renders take
// FAKE_RENDER_DELAY_MS each (or never finish with `hang`). Configuration comes from the environment.
import { loadConfig } from '../../src/config/config.js';
import { serveWorkers } from '../../src/start/server.js';
import { ScriptedEngine, tinyImages } from './fake-engines.js';

const delay = process.env.FAKE_RENDER_DELAY_MS ?? '100';
const engine = new ScriptedEngine('local', 1);
engine.render = async (input) => {
  if (delay === 'hang') {
    return new Promise(() => undefined);
  }
  await new Promise((resolve) => setTimeout(resolve, Number(delay)));
  return tinyImages(input);
};

// Results go to the local disk storage under DATA_DIR, which the test process reads too.
await serveWorkers(loadConfig(), { engines: { local: engine } });
