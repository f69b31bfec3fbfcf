import { randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { signWebhook } from '../../../src/adapters/engines/replicate/webhook-signature.js';
import { assertLoopbackUrl, distinctPng, listenOnLoopback, readRequestBody, sendJson } from './loopback.js';

/**
 * How a prediction ends: `succeeded` with images, `failed` with `error`, `canceled` by someone else,
 * or `processing` forever. `webhook` says whether its webhooks are sent once, twice (the same
 * `webhook-id` redelivered) or never. A `manual` prediction waits for `finish`.
 */
export interface PredictionScript {
  outcome: 'succeeded' | 'failed' | 'canceled' | 'processing';
  error?: string;
  webhook: 'send' | 'twice' | 'never';
  manual?: boolean;
}

export interface FakePrediction {
  id: string;
  /** The create request's body and path. */
  request: { path: string; body: { version?: string; input: Record<string, unknown>; webhook?: string; webhook_events_filter?: string[] } };
  status: string;
  error: string | null;
  outputs: Buffer[];
  outputsExpired: boolean;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
  script: PredictionScript;
}

export interface WebhookDelivery {
  predictionId: string;
  webhookId: string;
  status: string;
  responseStatus: number;
}

/**
 * Replicate's HTTP API on 127.0.0.1, as the official client calls it: create a prediction from a model
 * or a version, get it, cancel it. It sends Standard Webhooks signed with `webhookSecret` to the URL of
 * each prediction (loopback only) and serves outputs from /files, which can be made to expire.
 */
export class FakeReplicate {
  readonly apiToken = `r8_fake_${randomBytes(8).toString('hex')}`;
  readonly webhookSecret = `whsec_${randomBytes(24).toString('base64')}`;
  readonly predictions = new Map<string, FakePrediction>();
  readonly cancelRequests: string[] = [];
  readonly getRequests: string[] = [];
  readonly outputDownloads: string[] = [];
  readonly deliveries: WebhookDelivery[] = [];
  readonly authorizationHeaders: Array<string | undefined> = [];
  /** HTTP statuses (and bodies) for the next create requests, answered before anything is created. */
  createFailures: Array<{ status: number; body: unknown }> = [];
  script: (prediction: FakePrediction) => PredictionScript = () => ({ outcome: 'succeeded', webhook: 'send' });
  /** How long a prediction that is not `manual` runs before it ends, like a model's run time. */
  runMilliseconds = 0;

  private readonly server = http.createServer((request, response) => {
    this.handle(request, response).catch((error: unknown) => sendJson(response, 500, { detail: String(error) }));
  });
  private origin = '';
  private readonly pending = new Set<Promise<unknown>>();

  /** The API base URL to configure, like https://api.replicate.com/v1. */
  get url(): string {
    return `${this.origin}/v1`;
  }

  static async start(): Promise<FakeReplicate> {
    const fake = new FakeReplicate();
    fake.origin = await listenOnLoopback(fake.server);
    return fake;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Ends a `manual` prediction as its script says, sending its webhooks; resolves once they are answered. */
  async finish(id: string): Promise<void> {
    await this.track(this.complete(this.prediction(id)));
  }

  /** Makes the prediction's output URLs answer 404, as Replicate's do an hour after the prediction. */
  expireOutputs(id: string): void {
    this.prediction(id).outputsExpired = true;
  }

  /** Sends the prediction's current state as a webhook, signed with `secret` (the right one by default). */
  async deliver(id: string, options: { webhookId?: string; secret?: string; timestamp?: number } = {}): Promise<number> {
    return this.sendWebhook(this.prediction(id), options.webhookId ?? `msg_${randomUUID()}`, options);
  }

  /** The prediction as the API returns it. */
  view(prediction: FakePrediction): Record<string, unknown> {
    return {
      id: prediction.id,
      model: 'fake/identity',
      version: prediction.request.body.version ?? 'hidden',
      input: prediction.request.body.input,
      logs: '',
      status: prediction.status,
      output: prediction.status === 'succeeded' ? prediction.outputs.map((_, index) => `${this.origin}/files/${prediction.id}/${index}.png`) : null,
      error: prediction.error,
      data_removed: false,
      source: 'api',
      created_at: prediction.createdAt,
      started_at: prediction.startedAt,
      completed_at: prediction.completedAt,
      metrics: prediction.completedAt === null ? {} : { predict_time: 1.25 },
      webhook: prediction.request.body.webhook,
      webhook_events_filter: prediction.request.body.webhook_events_filter,
      urls: {
        get: `${this.url}/predictions/${prediction.id}`,
        cancel: `${this.url}/predictions/${prediction.id}/cancel`,
      },
    };
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://fake');
    const body = await readRequestBody(request);

    const file = /^\/files\/([^/]+)\/(\d+)\.png$/.exec(url.pathname);
    if (request.method === 'GET' && file !== null) {
      this.serveOutput(file[1]!, Number(file[2]), response);
      return;
    }

    this.authorizationHeaders.push(request.headers.authorization);
    if (request.headers.authorization !== `Bearer ${this.apiToken}`) {
      sendJson(response, 401, { title: 'Unauthenticated', detail: 'You did not pass a valid authentication token', status: 401 });
      return;
    }

    const route = `${request.method} ${url.pathname}`;
    const predictionPath = /^\/v1\/predictions\/([^/]+)(\/cancel)?$/.exec(url.pathname);
    if (route === 'POST /v1/predictions' || /^POST \/v1\/models\/[^/]+\/[^/]+\/predictions$/.test(route)) {
      this.create(url.pathname, JSON.parse(body.toString()) as FakePrediction['request']['body'], response);
    } else if (request.method === 'GET' && predictionPath !== null && predictionPath[2] === undefined) {
      this.getRequests.push(predictionPath[1]!);
      const prediction = this.predictions.get(predictionPath[1]!);
      if (prediction === undefined) {
        sendJson(response, 404, { detail: 'Not found.', status: 404 });
      } else {
        sendJson(response, 200, this.view(prediction));
      }
    } else if (request.method === 'POST' && predictionPath?.[2] === '/cancel') {
      this.cancel(predictionPath[1]!, response);
    } else {
      sendJson(response, 404, { detail: `no route ${route}`, status: 404 });
    }
  }

  private create(path: string, body: FakePrediction['request']['body'], response: ServerResponse): void {
    const failure = this.createFailures.shift();
    if (failure !== undefined) {
      sendJson(response, failure.status, failure.body);
      return;
    }
    const prediction: FakePrediction = {
      id: randomBytes(13).toString('hex'),
      request: { path, body },
      status: 'starting',
      error: null,
      outputs: [],
      outputsExpired: false,
      createdAt: new Date().toISOString(),
      startedAt: null,
      completedAt: null,
      script: { outcome: 'succeeded', webhook: 'send' },
    };
    prediction.script = this.script(prediction);
    this.predictions.set(prediction.id, prediction);
    sendJson(response, 201, this.view(prediction));
    if (!prediction.script.manual) {
      setTimeout(() => void this.track(this.complete(prediction)), this.runMilliseconds);
    }
  }

  private cancel(id: string, response: ServerResponse): void {
    this.cancelRequests.push(id);
    const prediction = this.predictions.get(id);
    if (prediction === undefined) {
      sendJson(response, 404, { detail: 'Not found.', status: 404 });
      return;
    }
    if (!['succeeded', 'failed', 'canceled'].includes(prediction.status)) {
      prediction.status = 'canceled';
      prediction.completedAt = new Date().toISOString();
    }
    sendJson(response, 200, this.view(prediction));
  }

  private async complete(prediction: FakePrediction): Promise<void> {
    if (prediction.status === 'canceled') {
      return;
    }
    prediction.status = 'processing';
    prediction.startedAt = new Date().toISOString();
    if (this.wantsEvent(prediction, 'start')) {
      await this.sendScriptedWebhook(prediction);
    }
    const script = prediction.script;
    if (script.outcome === 'processing') {
      return;
    }
    if (script.outcome === 'succeeded') {
      const count = Number(prediction.request.body.input.num_outputs ?? 1);
      for (let index = 0; index < count; index += 1) {
        prediction.outputs.push(await distinctPng());
      }
    }
    prediction.status = script.outcome;
    prediction.error = script.outcome === 'failed' ? (script.error ?? 'Prediction failed') : null;
    prediction.completedAt = new Date().toISOString();
    if (this.wantsEvent(prediction, 'completed')) {
      await this.sendScriptedWebhook(prediction);
    }
  }

  private wantsEvent(prediction: FakePrediction, event: string): boolean {
    const { webhook, webhook_events_filter: filter } = prediction.request.body;
    return webhook !== undefined && prediction.script.webhook !== 'never' && (filter === undefined || filter.includes(event));
  }

  private async sendScriptedWebhook(prediction: FakePrediction): Promise<void> {
    const webhookId = `msg_${randomUUID()}`;
    await this.sendWebhook(prediction, webhookId, {});
    if (prediction.script.webhook === 'twice') {
      await this.sendWebhook(prediction, webhookId, {});
    }
  }

  private async sendWebhook(prediction: FakePrediction, webhookId: string, options: { secret?: string; timestamp?: number }): Promise<number> {
    const target = prediction.request.body.webhook;
    if (target === undefined) {
      throw new Error(`prediction ${prediction.id} has no webhook URL`);
    }
    assertLoopbackUrl(target);
    const body = JSON.stringify(this.view(prediction));
    const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    const signature = signWebhook(webhookId, timestamp, body, options.secret ?? this.webhookSecret).toString('base64');
    const response = await fetch(target, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': webhookId,
        'webhook-timestamp': timestamp,
        'webhook-signature': `v1,${signature}`,
      },
      body,
    });
    await response.text();
    this.deliveries.push({ predictionId: prediction.id, webhookId, status: prediction.status, responseStatus: response.status });
    return response.status;
  }

  private serveOutput(id: string, index: number, response: ServerResponse): void {
    const prediction = this.predictions.get(id);
    const data = prediction?.outputs[index];
    this.outputDownloads.push(`${id}/${index}`);
    if (prediction === undefined || data === undefined || prediction.outputsExpired) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'image/png', 'content-length': data.length }).end(data);
  }

  private prediction(id: string): FakePrediction {
    const prediction = this.predictions.get(id);
    if (prediction === undefined) {
      throw new Error(`no prediction ${id}`);
    }
    return prediction;
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.pending.add(work);
    return work.finally(() => this.pending.delete(work));
  }
}
