import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseWorkflow } from '../../src/adapters/engines/comfyui/workflow.js';
import { ConcurrencyLimit } from '../../src/adapters/engines/remote/concurrency-limit.js';
import { fillTemplate, inspectTemplate, TemplateError } from '../../src/adapters/engines/remote/templates.js';
import { outputUrls, parseModelReference, predictionFailure } from '../../src/adapters/engines/replicate/prediction.js';
import { signWebhook, verifyWebhookSignature, WebhookSignatureError } from '../../src/adapters/engines/replicate/webhook-signature.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const SECRET = `whsec_${Buffer.from('a webhook signing key of 24b').toString('base64')}`;
const dataDir = mkdtempSync(path.join(tmpdir(), 'envision-engine-config-'));

describe('templates', () => {
  const template = {
    text: '{{prompt}}',
    framed: 'portrait, {{prompt}}, seed {{seed}}',
    seed: '{{seed}}',
    count: '{{image_count}}',
    negative: '{{negative_prompt}}',
    faces: ['{{reference_image}}', '{{reference_image_3}}'],
    all: '{{reference_images}}',
  };

  it('finds the placeholders a template uses', () => {
    assert.deepEqual(inspectTemplate(template), { usesPrompt: true, usesImageCount: true, referenceImageCount: 3, usesReferenceList: true });
  });

  it('fills values with their types', () => {
    const filled = fillTemplate(template, { prompt: 'a cat', negativePrompt: null, seed: 7, imageCount: 2, referenceImages: ['a.jpg', 'b.jpg'] });

    assert.deepEqual(filled, {
      text: 'a cat',
      framed: 'portrait, a cat, seed 7',
      seed: 7,
      count: 2,
      negative: '',
      faces: ['a.jpg', 'a.jpg'],
      all: ['a.jpg', 'b.jpg'],
    });
    assert.equal(template.seed, '{{seed}}');
  });

  it('rejects unknown and misplaced placeholders', () => {
    assert.throws(() => inspectTemplate({ text: '{{prompt}} {{promt}}' }), /unknown placeholder \{\{promt\}\} at text/);
    assert.throws(() => inspectTemplate({ text: '{{prompt}}', list: 'faces: {{reference_images}}' }), /must be the whole string/);
    assert.throws(() => inspectTemplate({ seed: '{{seed}}' }), /no \{\{prompt\}\} placeholder/);
  });
});

describe('parseWorkflow', () => {
  it('rejects a workflow in the UI format', () => {
    assert.throws(() => parseWorkflow(JSON.stringify({ nodes: [], links: [] })), (error: unknown) => {
      assert.ok(error instanceof TemplateError);
      assert.match(error.message, /API format/);
      return true;
    });
  });

  it('rejects nodes without class_type or inputs', () => {
    assert.throws(() => parseWorkflow(JSON.stringify({ '1': { inputs: { text: '{{prompt}}' } }, '2': { class_type: 'X' } })), /node "1" has no class_type; node "2" \(X\) has no inputs/);
  });

  it('rejects a list of reference images', () => {
    assert.throws(() => parseWorkflow(JSON.stringify({ '1': { class_type: 'LoadImage', inputs: { image: '{{reference_images}}', text: '{{prompt}}' } } })), /one file name/);
  });
});

describe('webhook signatures', () => {
  const body = Buffer.from('{"id":"p1","status":"succeeded"}');
  const now = 1_800_000_000_000;
  const timestamp = String(now / 1000);
  const valid = `v1,${signWebhook('msg_1', timestamp, body, SECRET).toString('base64')}`;

  it('accepts a valid signature among several', () => {
    assert.doesNotThrow(() => verifyWebhookSignature({ id: 'msg_1', timestamp, signature: `v1,bm90IGl0 ${valid}`, body }, SECRET, now));
  });

  it('rejects a changed body, id or secret', () => {
    const otherSecret = `whsec_${Buffer.from('another signing key').toString('base64')}`;
    assert.throws(() => verifyWebhookSignature({ id: 'msg_1', timestamp, signature: valid, body: Buffer.from('{}') }, SECRET, now), WebhookSignatureError);
    assert.throws(() => verifyWebhookSignature({ id: 'msg_2', timestamp, signature: valid, body }, SECRET, now), WebhookSignatureError);
    assert.throws(() => verifyWebhookSignature({ id: 'msg_1', timestamp, signature: valid, body }, otherSecret, now), WebhookSignatureError);
  });

  it('rejects timestamps over five minutes off', () => {
    assert.throws(() => verifyWebhookSignature({ id: 'msg_1', timestamp, signature: valid, body }, SECRET, now + 301_000), /away from the server's clock/);
    assert.throws(() => verifyWebhookSignature({ id: 'msg_1', timestamp, signature: valid, body }, SECRET, now - 301_000), /away from the server's clock/);
    assert.doesNotThrow(() => verifyWebhookSignature({ id: 'msg_1', timestamp, signature: valid, body }, SECRET, now + 299_000));
    assert.throws(() => verifyWebhookSignature({ id: 'msg_1', timestamp: '1.5e9', signature: valid, body }, SECRET, now), /whole seconds/);
  });
});

describe('predictions', () => {
  it('lists output URLs in order', () => {
    assert.deepEqual(outputUrls('https://a/1.png'), ['https://a/1.png']);
    assert.deepEqual(outputUrls(['https://a/1.png', 'data:image/png;base64,AA==']), ['https://a/1.png', 'data:image/png;base64,AA==']);
    assert.deepEqual(outputUrls({ images: ['https://a/1.png'], seed: 3, note: 'text' }), ['https://a/1.png']);
    assert.deepEqual(outputUrls(null), []);
  });

  it('classifies failures', () => {
    assert.equal(predictionFailure({ id: 'p', status: 'failed', error: 'NSFW content detected.' }).retryable, false);
    assert.equal(predictionFailure({ id: 'p', status: 'failed', error: 'Traceback: CUDA out of memory' }).retryable, true);
    assert.equal(predictionFailure({ id: 'p', status: 'canceled' }).retryable, true);
    assert.equal(predictionFailure({ id: 'p', status: 'aborted' }).retryable, true);
  });

  it('parses model references', () => {
    const version = 'a'.repeat(64);
    assert.deepEqual(parseModelReference('owner/model'), { model: 'owner/model' });
    assert.deepEqual(parseModelReference(`owner/model:${version}`), { version });
    assert.throws(() => parseModelReference('owner/model:latest'), /not a model reference/);
  });
});

describe('ConcurrencyLimit', () => {
  it('grants slots in order and skips aborted waiters', async () => {
    const limit = new ConcurrencyLimit(1);
    const order: string[] = [];
    const release = await limit.acquire(new AbortController().signal);
    const aborted = new AbortController();
    const skipped = limit.acquire(aborted.signal).then(
      () => order.push('skipped'),
      () => order.push('aborted'),
    );
    const next = limit.acquire(new AbortController().signal).then((releaseNext) => {
      order.push('next');
      return releaseNext;
    });

    aborted.abort(new Error('gone'));
    await skipped;
    release();
    release();
    (await next)();

    assert.deepEqual(order, ['aborted', 'next']);
    assert.equal(limit.activeCount, 0);
    assert.equal(limit.waitingCount, 0);
  });
});

describe('engine configuration', () => {
  it('enables the engines whose variables are set', () => {
    const config = loadConfig({
      DATA_DIR: dataDir,
      COMFYUI_URL: 'http://127.0.0.1:8188/',
      COMFYUI_HEADERS: '{"X-Proxy-Token":"t0ken"}',
      REPLICATE_API_TOKEN: 'r8_test',
      REPLICATE_MODEL: 'owner/model',
      REPLICATE_INPUT: '{"prompt":"{{prompt}}","image":"{{reference_image}}"}',
      GENERATION_ENGINE: 'replicate',
    });

    assert.equal(config.engines.defaultEngine, 'replicate');
    assert.equal(config.engines.comfyui?.baseUrl, 'http://127.0.0.1:8188');
    assert.deepEqual(config.engines.comfyui?.headers, { 'X-Proxy-Token': 't0ken' });
    assert.equal(config.engines.comfyui?.workflow.usage.referenceImageCount, 1);
    assert.equal(config.engines.replicate?.webhookUrl, undefined);
    assert.equal(config.engines.replicate?.pollIntervalMs, 2_000);
    assert.equal(config.engines.replicate?.baseUrl, 'https://api.replicate.com/v1');
  });

  it('reports every engine problem without echoing secrets', () => {
    const workflowPath = path.join(dataDir, 'ui-format.json');
    writeFileSync(workflowPath, JSON.stringify({ nodes: [], links: [] }));
    let error: unknown;
    try {
      loadConfig({
        DATA_DIR: dataDir,
        GENERATION_ENGINE: 'comfyui',
        COMFYUI_URL: 'http://127.0.0.1:8188',
        COMFYUI_WORKFLOW_PATH: workflowPath,
        COMFYUI_HEADERS: '{"Authorization": "Bearer super-secret-value"',
        REPLICATE_API_TOKEN: 'r8_test',
        REPLICATE_MODEL: 'not a model',
        REPLICATE_INPUT: '{"prompt":"{{prompt}}","extra":"{{steps}}"}',
        PUBLIC_BASE_URL: 'https://api.example.test',
      });
    } catch (caught) {
      error = caught;
    }

    assert.ok(error instanceof ConfigError);
    const text = error.problems.join('\n');
    assert.match(text, /COMFYUI_WORKFLOW_PATH .* API format/);
    assert.match(text, /COMFYUI_HEADERS must be a JSON object/);
    assert.match(text, /REPLICATE_MODEL is required/);
    assert.match(text, /REPLICATE_INPUT: unknown placeholder \{\{steps\}\}/);
    assert.match(text, /REPLICATE_WEBHOOK_SECRET is required when webhooks are sent/);
    assert.ok(!text.includes('super-secret-value'));
  });

  it('requires the variables of the default engine', () => {
    assert.throws(() => loadConfig({ DATA_DIR: dataDir, GENERATION_ENGINE: 'comfyui' }), /GENERATION_ENGINE is comfyui, so COMFYUI_URL is required/);
  });
});
