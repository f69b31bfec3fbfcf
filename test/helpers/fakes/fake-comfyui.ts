import { randomUUID } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { distinctPng, listenOnLoopback, readRequestBody, sendJson } from './loopback.js';

/**
 * What the fake does with a queued prompt:
 * - `succeed`: runs at once, sends the websocket events and writes the history with its images;
 * - `execution_error`: a node raises `exceptionMessage`;
 * - `drop_socket`: closes every websocket once the prompt starts, then finishes with no more events;
 * - `history_empty`: reports the prompt running forever and never writes a history entry;
 * - `pending`: leaves the prompt waiting in the queue forever;
 * - `manual`: runs it, and finishes when the test calls `finish`;
 * - `reject`: answers POST /prompt with HTTP 400 and node errors, as ComfyUI's validation does.
 */
export type ComfyScenario =
  | { kind: 'succeed' | 'drop_socket' | 'history_empty' | 'pending' | 'manual' | 'reject' }
  | { kind: 'execution_error'; exceptionType: string; exceptionMessage: string };

export interface FakePrompt {
  id: string;
  clientId: string;
  workflow: Record<string, { class_type: string; inputs: Record<string, unknown> }>;
  state: 'pending' | 'running' | 'done' | 'failed' | 'interrupted' | 'deleted';
  history: Record<string, unknown> | undefined;
  outputs: Buffer[];
}

interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

/**
 * A ComfyUI server on 127.0.0.1 that follows the HTTP and websocket protocol of ComfyUI's `server.py`:
 * /upload/image, /prompt, /history/{id}, /queue, /interrupt, /view and /ws. It renders nothing: each
 * output is a small PNG of a colour no other output has.
 */
export class FakeComfyUi {
  readonly requests: RecordedRequest[] = [];
  readonly uploads: Array<{ filename: string; subfolder: string; type: string; overwrite: string; data: Buffer }> = [];
  readonly prompts = new Map<string, FakePrompt>();
  readonly interrupts: string[] = [];
  readonly queueDeletes: string[] = [];
  readonly socketHeaders: IncomingHttpHeaders[] = [];
  /** Most prompts queued or running at the same moment. */
  maxActivePrompts = 0;
  /** Decides each new prompt's fate. */
  scenario: (prompt: FakePrompt) => ComfyScenario = () => ({ kind: 'succeed' });
  /** Headers every request must carry, as a reverse proxy in front of ComfyUI would demand. */
  requiredHeaders: Record<string, string> = {};
  /** HTTP statuses for the next POST /prompt requests, answered before anything is queued. */
  promptFailures: number[] = [];

  private readonly sockets = new Map<string, WebSocket>();
  private readonly server = http.createServer((request, response) => {
    this.handle(request, response).catch((error: unknown) => sendJson(response, 500, { error: String(error) }));
  });
  private readonly webSockets = new WebSocketServer({
    server: this.server,
    path: '/ws',
    verifyClient: (info: { req: IncomingMessage }) => this.authorized(info.req.headers),
  });

  url = '';

  private constructor() {
    this.webSockets.on('connection', (socket, request) => {
      this.socketHeaders.push(request.headers);
      const clientId = new URL(request.url ?? '/', 'http://fake').searchParams.get('clientId') ?? randomUUID();
      this.sockets.set(clientId, socket);
      socket.on('close', () => {
        if (this.sockets.get(clientId) === socket) {
          this.sockets.delete(clientId);
        }
      });
      socket.send(JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: this.activeCount() } }, sid: clientId } }));
    });
  }

  static async start(): Promise<FakeComfyUi> {
    const fake = new FakeComfyUi();
    fake.url = await listenOnLoopback(fake.server);
    return fake;
  }

  async close(): Promise<void> {
    for (const socket of this.webSockets.clients) {
      socket.terminate();
    }
    this.webSockets.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Finishes a `manual` prompt with images. */
  async finish(promptId: string): Promise<void> {
    const prompt = this.prompts.get(promptId);
    if (prompt === undefined || prompt.state !== 'running') {
      throw new Error(`prompt ${promptId} is not running`);
    }
    await this.succeed(prompt, true);
  }

  /** Closes every websocket, as a proxy restart or a network blip would. */
  dropSockets(): void {
    for (const socket of this.webSockets.clients) {
      socket.terminate();
    }
  }

  get connectedSockets(): number {
    return this.webSockets.clients.size;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://fake');
    this.requests.push({ method: request.method ?? 'GET', path: url.pathname, headers: request.headers });
    if (!this.authorized(request.headers)) {
      sendJson(response, 401, { error: 'missing or wrong proxy token' });
      return;
    }
    const body = await readRequestBody(request);
    const route = `${request.method} ${url.pathname}`;

    if (route === 'POST /upload/image') {
      await this.upload(request, body, response);
    } else if (route === 'POST /prompt') {
      await this.queuePrompt(JSON.parse(body.toString()) as { prompt: FakePrompt['workflow']; client_id: string }, response);
    } else if (request.method === 'GET' && url.pathname.startsWith('/history/')) {
      const id = decodeURIComponent(url.pathname.slice('/history/'.length));
      const history = this.prompts.get(id)?.history;
      sendJson(response, 200, history === undefined ? {} : { [id]: history });
    } else if (route === 'GET /queue') {
      sendJson(response, 200, this.queue());
    } else if (route === 'POST /queue') {
      for (const id of (JSON.parse(body.toString()) as { delete?: string[] }).delete ?? []) {
        this.queueDeletes.push(id);
        const prompt = this.prompts.get(id);
        if (prompt?.state === 'pending') {
          prompt.state = 'deleted';
        }
      }
      response.writeHead(200).end();
    } else if (route === 'POST /interrupt') {
      this.interrupt((JSON.parse(body.toString() || '{}') as { prompt_id?: string }).prompt_id);
      response.writeHead(200).end();
    } else if (route === 'GET /view') {
      this.view(url.searchParams, response);
    } else {
      sendJson(response, 404, { error: `no route ${route}` });
    }
  }

  private async upload(request: IncomingMessage, body: Buffer, response: ServerResponse): Promise<void> {
    const form = await new Response(body, { headers: { 'content-type': request.headers['content-type'] ?? '' } }).formData();
    const image = form.get('image');
    if (!(image instanceof Blob) || !('name' in image)) {
      sendJson(response, 400, { error: 'no image' });
      return;
    }
    const subfolder = String(form.get('subfolder') ?? '');
    this.uploads.push({
      filename: (image as File).name,
      subfolder,
      type: String(form.get('type') ?? 'input'),
      overwrite: String(form.get('overwrite') ?? ''),
      data: Buffer.from(await image.arrayBuffer()),
    });
    sendJson(response, 200, { name: (image as File).name, subfolder, type: 'input' });
  }

  private async queuePrompt(body: { prompt: FakePrompt['workflow']; client_id: string }, response: ServerResponse): Promise<void> {
    const failure = this.promptFailures.shift();
    if (failure !== undefined) {
      sendJson(response, failure, { error: { type: 'fake_failure', message: `fake status ${failure}` } });
      return;
    }
    const prompt: FakePrompt = {
      id: randomUUID(),
      clientId: body.client_id,
      workflow: body.prompt,
      state: 'running',
      history: undefined,
      outputs: [],
    };
    const scenario = this.scenario(prompt);
    if (scenario.kind === 'reject') {
      sendJson(response, 400, {
        error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} },
        node_errors: { '5': { errors: [{ type: 'custom_validation_failed', message: 'Invalid image file' }], class_type: 'LoadImage' } },
      });
      return;
    }
    if (scenario.kind === 'pending') {
      prompt.state = 'pending';
    }
    this.prompts.set(prompt.id, prompt);
    this.maxActivePrompts = Math.max(this.maxActivePrompts, this.activeCount());
    sendJson(response, 200, { prompt_id: prompt.id, number: this.prompts.size, node_errors: {} });
    setImmediate(() => {
      this.run(prompt, scenario).catch((error: unknown) => console.error('fake ComfyUI run failed', error));
    });
  }

  private async run(prompt: FakePrompt, scenario: ComfyScenario): Promise<void> {
    if (scenario.kind === 'pending') {
      return;
    }
    this.emit(prompt, 'execution_start', { timestamp: Date.now() });
    this.emit(prompt, 'execution_cached', { nodes: [] });
    this.emit(prompt, 'executing', { node: '10', display_node: '10' });
    this.emit(prompt, 'progress', { value: 1, max: 30, node: '10' });

    if (scenario.kind === 'execution_error') {
      const error = {
        prompt_id: prompt.id,
        node_id: '8',
        node_type: 'ApplyInstantID',
        executed: ['1', '2'],
        exception_message: scenario.exceptionMessage,
        exception_type: scenario.exceptionType,
        traceback: ['  File "execution.py", line 1, in execute\n'],
        current_inputs: {},
        current_outputs: {},
      };
      this.emit(prompt, 'execution_error', error);
      prompt.state = 'failed';
      prompt.history = {
        prompt: [0, prompt.id, prompt.workflow, {}, ['12']],
        outputs: {},
        status: { status_str: 'error', completed: false, messages: [['execution_start', { prompt_id: prompt.id }], ['execution_error', error]] },
      };
      return;
    }
    if (scenario.kind === 'drop_socket') {
      this.dropSockets();
      await this.succeed(prompt, false);
      return;
    }
    if (scenario.kind === 'succeed') {
      await this.succeed(prompt, true);
    }
    // `history_empty` and `manual` stay running.
  }

  private async succeed(prompt: FakePrompt, withEvents: boolean): Promise<void> {
    const count = batchSize(prompt.workflow);
    for (let index = 0; index < count; index += 1) {
      prompt.outputs.push(await distinctPng());
    }
    const images = prompt.outputs.map((_, index) => ({ filename: `envision_${prompt.id}_${index}.png`, subfolder: '', type: 'output' }));
    if (withEvents) {
      this.emit(prompt, 'executed', { node: '12', display_node: '12', output: { images } });
      this.emit(prompt, 'execution_success', { timestamp: Date.now() });
      this.emit(prompt, 'executing', { node: null });
    }
    prompt.state = 'done';
    // ComfyUI writes the history after the last websocket message, so a reader can briefly see none.
    setImmediate(() => {
      prompt.history = {
        prompt: [0, prompt.id, prompt.workflow, {}, ['12']],
        outputs: {
          '12': { images },
          // A preview node's temporary image, which is not an output to keep.
          '13': { images: [{ filename: `preview_${prompt.id}.png`, subfolder: '', type: 'temp' }] },
        },
        status: {
          status_str: 'success',
          completed: true,
          messages: [
            ['execution_start', { prompt_id: prompt.id, timestamp: Date.now() }],
            ['execution_success', { prompt_id: prompt.id, timestamp: Date.now() }],
          ],
        },
      };
    });
  }

  private interrupt(promptId: string | undefined): void {
    const running = [...this.prompts.values()].filter((prompt) => prompt.state === 'running');
    for (const prompt of running) {
      if (promptId !== undefined && prompt.id !== promptId) {
        continue;
      }
      this.interrupts.push(prompt.id);
      prompt.state = 'interrupted';
      const data = { prompt_id: prompt.id, node_id: '10', node_type: 'KSampler', executed: [] };
      this.emit(prompt, 'execution_interrupted', data);
      prompt.history = {
        outputs: {},
        status: { status_str: 'error', completed: false, messages: [['execution_interrupted', data]] },
      };
    }
  }

  private view(query: URLSearchParams, response: ServerResponse): void {
    const match = /^envision_(.+)_(\d+)\.png$/.exec(query.get('filename') ?? '');
    const data = match === null || query.get('type') !== 'output' ? undefined : this.prompts.get(match[1]!)?.outputs[Number(match[2])];
    if (data === undefined) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'image/png', 'content-length': data.length }).end(data);
  }

  private queue() {
    const item = (prompt: FakePrompt) => [0, prompt.id, prompt.workflow, { client_id: prompt.clientId }, ['12']];
    const prompts = [...this.prompts.values()];
    return {
      queue_running: prompts.filter((prompt) => prompt.state === 'running').map(item),
      queue_pending: prompts.filter((prompt) => prompt.state === 'pending').map(item),
    };
  }

  private activeCount(): number {
    return [...this.prompts.values()].filter((prompt) => prompt.state === 'running' || prompt.state === 'pending').length;
  }

  private emit(prompt: FakePrompt, type: string, data: Record<string, unknown>): void {
    const socket = this.sockets.get(prompt.clientId);
    socket?.send(JSON.stringify({ type, data: { ...data, prompt_id: prompt.id } }));
  }

  private authorized(headers: IncomingHttpHeaders): boolean {
    return Object.entries(this.requiredHeaders).every(([name, value]) => headers[name.toLowerCase()] === value);
  }
}

function batchSize(workflow: FakePrompt['workflow']): number {
  for (const node of Object.values(workflow)) {
    const size = node.inputs.batch_size;
    if (typeof size === 'number') {
      return size;
    }
  }
  return 1;
}
