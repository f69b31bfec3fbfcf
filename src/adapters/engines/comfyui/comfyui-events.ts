import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import WebSocket from 'ws';

/** A JSON message from ComfyUI's `/ws`, such as `executing`, `execution_success` or `execution_error`. */
export interface ComfyUiEvent {
  type: string;
  data: Record<string, unknown>;
}

/** Sent to every listener when the socket closes, so waiters check `/history` at once. */
export const CONNECTION_LOST: ComfyUiEvent = { type: 'connection_lost', data: {} };

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 10_000;

export interface ComfyUiEventStreamOptions {
  baseUrl: string;
  headers: Record<string, string>;
  logger: Logger;
}

/**
 * One websocket to ComfyUI per engine, under a client id of its own: ComfyUI sends a prompt's progress
 * only to the client id the prompt was queued with. The socket opens on demand and reconnects with
 * backoff while someone listens. Messages sent while it is down are lost, so waiters also read
 * `/history`, which is the source of truth.
 */
export class ComfyUiEventStream {
  readonly clientId = randomUUID().replaceAll('-', '');
  private socket: WebSocket | undefined;
  private readonly listeners = new Map<string, Set<(event: ComfyUiEvent) => void>>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failedAttempts = 0;
  private closed = false;

  constructor(private readonly options: ComfyUiEventStreamOptions) {}

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Calls `listener` with every message about `promptId` until the returned function is called. */
  watch(promptId: string, listener: (event: ComfyUiEvent) => void): () => void {
    let set = this.listeners.get(promptId);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(promptId, set);
    }
    set.add(listener);
    this.connect();
    return () => {
      set.delete(listener);
      if (set.size === 0) {
        this.listeners.delete(promptId);
      }
    };
  }

  /** Opens the socket and waits until it is open, at most `timeoutMs`. Returns whether it is open. */
  async ready(timeoutMs: number): Promise<boolean> {
    this.connect();
    const socket = this.socket;
    if (socket === undefined || socket.readyState === WebSocket.OPEN) {
      return this.connected;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        socket.off('open', done);
        socket.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      socket.once('open', done);
      socket.once('close', done);
    });
    return this.connected;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.socket?.terminate();
    this.socket = undefined;
  }

  private connect(): void {
    if (this.closed || this.socket !== undefined || this.reconnectTimer !== undefined) {
      return;
    }
    const url = new URL(`${this.options.baseUrl}/ws`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('clientId', this.clientId);

    const socket = new WebSocket(url, { headers: this.options.headers, handshakeTimeout: 10_000 });
    this.socket = socket;
    socket.on('open', () => {
      if (this.failedAttempts > 0) {
        this.options.logger.info({ engine: 'comfyui', attempts: this.failedAttempts }, 'ComfyUI websocket reconnected');
      }
      this.failedAttempts = 0;
    });
    socket.on('message', (data, isBinary) => {
      // Binary frames are preview images; only JSON text frames carry events.
      if (!isBinary) {
        this.dispatch(data.toString());
      }
    });
    socket.on('error', (error) => {
      // A 'close' event always follows; reconnecting happens there. Only the first failure in a row is
      // logged, so a ComfyUI that stays down does not flood the log.
      if (this.failedAttempts === 0) {
        this.options.logger.warn({ engine: 'comfyui', err: error }, 'ComfyUI websocket failed; following prompts through /history');
      }
    });
    socket.on('close', () => {
      if (this.socket === socket) {
        this.socket = undefined;
      }
      this.failedAttempts += 1;
      for (const set of this.listeners.values()) {
        for (const listener of set) {
          listener(CONNECTION_LOST);
        }
      }
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.listeners.size === 0) {
      return;
    }
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** Math.min(this.failedAttempts - 1, 10));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.listeners.size > 0) {
        this.connect();
      }
    }, delay);
    this.reconnectTimer.unref();
  }

  private dispatch(text: string): void {
    let event: ComfyUiEvent;
    try {
      event = JSON.parse(text) as ComfyUiEvent;
    } catch {
      return;
    }
    const promptId = event?.data?.prompt_id;
    if (typeof promptId !== 'string') {
      return;
    }
    for (const listener of this.listeners.get(promptId) ?? []) {
      listener(event);
    }
  }
}
