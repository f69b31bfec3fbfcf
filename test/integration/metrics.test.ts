import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import pino from 'pino';
import { Metrics } from '../../src/adapters/metrics/metrics.js';
import { appError } from '../../src/domain/errors.js';
import { registerErrorHandling } from '../../src/http/plugins/error-handler.js';
import { registerRequestMetrics } from '../../src/http/plugins/request-metrics.js';
import { type MetricsServer, startMetricsServer } from '../../src/start/metrics-server.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

/** Returns the value of the sample `name{labels}` in Prometheus text, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) {
      continue;
    }
    const present = (match[2] ?? '').split(',').filter((pair) => pair !== '');
    if (wanted.every((pair) => present.includes(pair)) && present.length === wanted.length) {
      return Number(match[3]);
    }
  }
  return undefined;
}

for (const kind of DATABASE_KINDS) {
  describe(`/metrics on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;

    before(async () => {
      context = await createTestContext(kind);
    });
    after(async () => context?.close());

    async function scrape(): Promise<string> {
      const response = await context.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(response.statusCode, 200);
      return response.body;
    }

    it('serves the Prometheus text format', async () => {
      const response = await context.app.inject({ method: 'GET', url: '/metrics' });

      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
      assert.match(response.body, /^# HELP envision_http_request_duration_seconds /m);
      assert.match(response.body, /^# TYPE envision_queue_tasks gauge$/m);
      assert.match(response.body, /^process_resident_memory_bytes \d+/m);
    });

    it('counts requests by route and status', async () => {
      const labels = { method: 'GET', route: '/healthz', status_code: '200' };
      const before = sample(await scrape(), 'envision_http_request_duration_seconds_count', labels) ?? 0;

      for (let index = 0; index < 3; index += 1) {
        await context.app.inject({ method: 'GET', url: '/healthz' });
      }
      const text = await scrape();

      assert.equal(sample(text, 'envision_http_request_duration_seconds_count', labels), before + 3);
      assert.equal(sample(text, 'envision_http_request_duration_seconds_bucket', { ...labels, le: '+Inf' }), before + 3);
    });

    it('counts /packs-info served before Fastify', async () => {
      const labels = { method: 'GET', route: '/packs-info', status_code: '200' };
      const before = sample(await scrape(), 'envision_http_request_duration_seconds_count', labels) ?? 0;
      const address = await context.app.listen({ host: '127.0.0.1', port: 0 });

      const responses = [await fetch(`${address}/packs-info`), await fetch(`${address}/packs-info`)];

      assert.deepEqual(
        responses.map((response) => response.status),
        [200, 200],
      );
      assert.equal(sample(await scrape(), 'envision_http_request_duration_seconds_count', labels), before + 2);
    });

    it('labels unknown paths as unmatched', async () => {
      await context.app.inject({ method: 'GET', url: '/no-such-route-1' });
      await context.app.inject({ method: 'GET', url: '/no-such-route-2' });
      const text = await scrape();

      assert.ok((sample(text, 'envision_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status_code: '404' }) ?? 0) >= 2);
      assert.doesNotMatch(text, /no-such-route/);
    });

    it('reports the queue depth from its reader', async () => {
      context.container.metrics.setQueueDepthReader(async () => ({ waiting: 4, active: 2, delayed: 1 }));
      const text = await scrape();

      assert.equal(sample(text, 'envision_queue_tasks', { state: 'waiting' }), 4);
      assert.equal(sample(text, 'envision_queue_tasks', { state: 'active' }), 2);
      assert.equal(sample(text, 'envision_queue_tasks', { state: 'delayed' }), 1);
    });

    it('leaves out the queue depth when its reader fails', async () => {
      context.container.metrics.setQueueDepthReader(async () => {
        throw new Error('queue unreachable');
      });
      const text = await scrape();

      assert.equal(sample(text, 'envision_queue_tasks', { state: 'waiting' }), undefined);
      assert.match(text, /^# TYPE envision_queue_tasks gauge$/m);
    });

    it('records task attempts and failures by engine', async () => {
      context.container.metrics.observeTaskAttempt('local', 'succeeded', 1.5);
      context.container.metrics.observeTaskAttempt('local', 'failed', 0.2);
      context.container.metrics.countTaskFailure('replicate');
      const text = await scrape();

      assert.equal(sample(text, 'envision_task_attempt_duration_seconds_count', { engine: 'local', outcome: 'succeeded' }), 1);
      assert.equal(sample(text, 'envision_task_attempt_duration_seconds_sum', { engine: 'local', outcome: 'succeeded' }), 1.5);
      assert.equal(sample(text, 'envision_task_attempt_duration_seconds_count', { engine: 'local', outcome: 'failed' }), 1);
      assert.equal(sample(text, 'envision_tasks_failed_total', { engine: 'replicate' }), 1);
    });
  });
}

describe('/metrics with METRICS_TOKEN', () => {
  let context: TestContext;

  before(async () => {
    context = await createTestContext(DATABASE_KINDS[0]!, { env: { METRICS_TOKEN } });
  });
  after(async () => context?.close());

  it('rejects a scrape without the token', async () => {
    const response = await context.app.inject({ method: 'GET', url: '/metrics' });

    assert.equal(response.statusCode, 401);
    assert.equal(response.json().error.code, 'invalid_token');
    assert.equal(response.headers['www-authenticate'], 'Bearer realm="metrics"');
  });

  it('rejects a wrong token', async () => {
    const response = await context.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}x` },
    });

    assert.equal(response.statusCode, 401);
  });

  it('serves metrics for the right token', async () => {
    const response = await context.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });

    assert.equal(response.statusCode, 200);
    assert.match(response.body, /envision_http_request_duration_seconds/);
  });
});

describe('rejected upload metrics', () => {
  const metrics = new Metrics();
  const app = Fastify();

  before(async () => {
    registerRequestMetrics(app, metrics);
    registerErrorHandling(app);
    app.post('/upload', async (request) => {
      const reason = (request.query as { reason?: string }).reason;
      if (reason === 'crash') {
        throw new Error('disk full');
      }
      if (reason !== undefined) {
        throw appError(reason as 'payload_too_large', `rejected: ${reason}`);
      }
      return { ok: true };
    });
    app.post('/elsewhere', async () => {
      throw appError('invalid_request', 'not an upload');
    });
    await app.ready();
  });
  after(async () => app.close());

  it('counts 4xx upload answers by error code', async () => {
    await app.inject({ method: 'POST', url: '/upload?reason=payload_too_large' });
    await app.inject({ method: 'POST', url: '/upload?reason=payload_too_large' });
    await app.inject({ method: 'POST', url: '/upload?reason=unsupported_media_type' });
    await app.inject({ method: 'POST', url: '/upload' });
    await app.inject({ method: 'POST', url: '/upload?reason=crash' });
    await app.inject({ method: 'POST', url: '/elsewhere' });
    const text = (await metrics.render()).body;

    assert.equal(sample(text, 'envision_uploads_rejected_total', { reason: 'payload_too_large' }), 2);
    assert.equal(sample(text, 'envision_uploads_rejected_total', { reason: 'unsupported_media_type' }), 1);
    assert.equal(sample(text, 'envision_uploads_rejected_total', { reason: 'internal_error' }), undefined, 'a 5xx is a failure, not a rejection');
    assert.equal(sample(text, 'envision_uploads_rejected_total', { reason: 'invalid_request' }), undefined, 'other routes do not count');
  });
});

describe('cluster metrics', () => {
  it('sums the API processes of a cluster', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/cluster-metrics-script.ts'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];

    assert.equal(code, 0);
    assert.equal(sample(output, 'envision_tasks_failed_total', { engine: 'local' }), 1 + 2 + 3);
    assert.equal(sample(output, 'envision_queue_tasks', { state: 'waiting' }), 7, 'the shared queue is not summed');
  });
});

describe('worker metrics server', () => {
  const metrics = new Metrics();
  let server: MetricsServer;

  before(async () => {
    metrics.countTaskFailure('local');
    server = await startMetricsServer(metrics, { host: '127.0.0.1', port: 0, token: METRICS_TOKEN, logger: pino({ level: 'silent' }) });
  });
  after(async () => server?.close());

  it('serves /metrics with the token', async () => {
    const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });

    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(sample(await response.text(), 'envision_tasks_failed_total', { engine: 'local' }), 1);
  });

  it('rejects a scrape without the token', async () => {
    const response = await fetch(`${server.url}/metrics`);

    assert.equal(response.status, 401);
    assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="metrics"');
  });

  it('serves nothing else', async () => {
    const response = await fetch(`${server.url}/healthz`);

    assert.equal(response.status, 404);
  });
});
