import { retryableError, truncate } from '../remote/failures.js';
import { readBody, send } from '../remote/http.js';

/** A file in one of ComfyUI's folders, as `/upload/image`, `/history` and `/view` name it. */
export interface ComfyUiFile {
  filename: string;
  subfolder: string;
  type: string;
}

/** One prompt's entry in `GET /history/{prompt_id}`. */
export interface HistoryEntry {
  status?: {
    status_str?: string;
    completed?: boolean;
    /** Events of the run as `[name, data]` pairs: execution_start, execution_error, execution_success, … */
    messages?: Array<[string, Record<string, unknown>]>;
  };
  outputs?: Record<string, { images?: ComfyUiFile[] }>;
}

/** `GET /queue`: each item is `[number, prompt_id, prompt, extra_data, outputs_to_execute]`. */
interface QueueState {
  queue_running?: unknown[][];
  queue_pending?: unknown[][];
}

export interface ComfyUiClientOptions {
  baseUrl: string;
  /** Sent with every request, such as a token for the reverse proxy in front of ComfyUI. */
  headers: Record<string, string>;
  requestTimeoutMs: number;
}

/**
 * ComfyUI's HTTP API, as its `server.py` serves it: upload an input image, queue a prompt, read the
 * history and the queue, fetch an output, and stop a prompt. Every failure is an EngineError.
 */
export class ComfyUiClient {
  constructor(private readonly options: ComfyUiClientOptions) {}

  /** Stores `data` in ComfyUI's input folder and returns the name a LoadImage node takes. */
  async uploadImage(data: Buffer, filename: string, subfolder: string, signal: AbortSignal): Promise<string> {
    const form = new FormData();
    form.append('image', new Blob([data], { type: 'image/jpeg' }), filename);
    form.append('type', 'input');
    form.append('subfolder', subfolder);
    form.append('overwrite', 'true');
    const response = await this.send('ComfyUI image upload', '/upload/image', { method: 'POST', body: form }, signal);
    const file = (await this.readJson('ComfyUI image upload', response)) as { name?: unknown; subfolder?: unknown };
    if (typeof file.name !== 'string') {
      throw retryableError('ComfyUI image upload returned no file name');
    }
    return typeof file.subfolder === 'string' && file.subfolder !== '' ? `${file.subfolder}/${file.name}` : file.name;
  }

  /**
   * Queues a workflow; ComfyUI sends its progress to the websocket client `clientId`. A workflow that
   * ComfyUI rejects (HTTP 400 with `node_errors`) is a permanent failure, like every other 4xx.
   */
  async queuePrompt(workflow: unknown, clientId: string, signal: AbortSignal): Promise<string> {
    const url = `${this.options.baseUrl}/prompt`;
    const response = await send(
      'ComfyUI POST /prompt',
      url,
      { method: 'POST', body: JSON.stringify({ prompt: workflow, client_id: clientId }), headers: { 'content-type': 'application/json' } },
      this.requestOptions(signal),
    );
    const body = (await this.readJson('ComfyUI POST /prompt', response)) as { prompt_id?: unknown };
    if (typeof body.prompt_id !== 'string') {
      throw retryableError('ComfyUI POST /prompt returned no prompt_id');
    }
    return body.prompt_id;
  }

  /** Returns the prompt's history entry, or undefined while ComfyUI has none (queued, running or unknown). */
  async getHistory(promptId: string, signal: AbortSignal): Promise<HistoryEntry | undefined> {
    const response = await this.send('ComfyUI GET /history', `/history/${encodeURIComponent(promptId)}`, {}, signal);
    const body = (await this.readJson('ComfyUI GET /history', response)) as Record<string, HistoryEntry>;
    return body[promptId];
  }

  /** Returns the prompt's position in ComfyUI's queue: running, pending or absent. */
  async queuePosition(promptId: string, signal: AbortSignal): Promise<'running' | 'pending' | 'absent'> {
    const response = await this.send('ComfyUI GET /queue', '/queue', {}, signal);
    const queue = (await this.readJson('ComfyUI GET /queue', response)) as QueueState;
    const holds = (items: unknown[][] | undefined) => (items ?? []).some((item) => Array.isArray(item) && item[1] === promptId);
    if (holds(queue.queue_running)) {
      return 'running';
    }
    return holds(queue.queue_pending) ? 'pending' : 'absent';
  }

  /** Removes a prompt that has not started from the queue. */
  async deletePending(promptId: string, signal: AbortSignal): Promise<void> {
    await this.sendJson('ComfyUI POST /queue', '/queue', { delete: [promptId] }, signal);
  }

  /**
   * Interrupts the running prompt. Recent ComfyUI versions stop only the prompt named in the body; older
   * ones stop whatever runs, so callers check with `queuePosition` first.
   */
  async interrupt(promptId: string, signal: AbortSignal): Promise<void> {
    await this.sendJson('ComfyUI POST /interrupt', '/interrupt', { prompt_id: promptId }, signal);
  }

  async downloadOutput(file: ComfyUiFile, signal: AbortSignal): Promise<Buffer> {
    const query = new URLSearchParams({ filename: file.filename, subfolder: file.subfolder, type: file.type });
    const response = await this.send('ComfyUI GET /view', `/view?${query}`, {}, signal);
    return readBody(`ComfyUI GET /view for ${file.filename}`, response);
  }

  private async sendJson(what: string, path: string, body: unknown, signal: AbortSignal): Promise<void> {
    const response = await this.send(
      what,
      path,
      { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
      signal,
    );
    await response.body?.cancel();
  }

  private send(what: string, path: string, init: RequestInit, signal: AbortSignal): Promise<Response> {
    return send(what, `${this.options.baseUrl}${path}`, init, this.requestOptions(signal));
  }

  private requestOptions(signal: AbortSignal) {
    return { signal, timeoutMs: this.options.requestTimeoutMs, headers: this.options.headers };
  }

  private async readJson(what: string, response: Response): Promise<unknown> {
    const text = (await readBody(what, response, 16 * 1024 * 1024)).toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      throw retryableError(`${what} returned a body that is not JSON: ${truncate(text, 200)}`);
    }
  }
}
