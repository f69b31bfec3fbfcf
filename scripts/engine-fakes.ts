// Starts fakes of ComfyUI and Replicate on 127.0.0.1 and prints the environment variables that point the
// server at them, so `npm start` or the demo can run a pack on either engine without a GPU or an account.
// The fakes are the ones the tests use: they follow each API's protocol and return small coloured PNGs.
//
//   npm run engine-fakes                 # then copy the printed variables into .env or the shell
//   npm run engine-fakes -- --port 3000  # the port the Envision server listens on, for Replicate webhooks
import { parseArgs } from 'node:util';
import { FakeComfyUi } from '../test/helpers/fakes/fake-comfyui.js';
import { FakeReplicate } from '../test/helpers/fakes/fake-replicate.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '3000' },
    'run-ms': { type: 'string', default: '500' },
  },
});
const serverPort = Number(values.port);
const runMilliseconds = Number(values['run-ms']);
if (!Number.isInteger(serverPort) || serverPort < 1 || serverPort > 65_535 || !Number.isInteger(runMilliseconds) || runMilliseconds < 0) {
  console.error('--port must be a TCP port and --run-ms a whole number of milliseconds');
  process.exit(2);
}

const comfyui = await FakeComfyUi.start();
comfyui.requiredHeaders = { 'X-Proxy-Token': 'demo-proxy-token' };
const replicate = await FakeReplicate.start();
replicate.runMilliseconds = runMilliseconds;

const variables = {
  COMFYUI_URL: comfyui.url,
  COMFYUI_HEADERS: JSON.stringify({ 'X-Proxy-Token': 'demo-proxy-token' }),
  REPLICATE_API_TOKEN: replicate.apiToken,
  REPLICATE_BASE_URL: replicate.url,
  REPLICATE_MODEL: 'fake/identity',
  REPLICATE_INPUT: JSON.stringify({
    prompt: '{{prompt}}',
    negative_prompt: '{{negative_prompt}}',
    seed: '{{seed}}',
    num_outputs: '{{image_count}}',
    main_face_image: '{{reference_image}}',
  }),
  REPLICATE_WEBHOOK_URL: `http://127.0.0.1:${serverPort}/webhooks/replicate`,
  REPLICATE_WEBHOOK_SECRET: replicate.webhookSecret,
};

console.log('# Fake ComfyUI and Replicate are running on 127.0.0.1. Point the server at them with:');
for (const [name, value] of Object.entries(variables)) {
  console.log(`${name}='${value}'`);
}
console.log('# Then choose the engine per pack (packs.engine) or for all packs with GENERATION_ENGINE=comfyui or replicate.');
console.log('# Press Ctrl+C to stop the fakes.');

const stop = async () => {
  await Promise.all([comfyui.close(), replicate.close()]);
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
