import type { Logger } from 'pino';
import type { EnginesConfig } from '../../config/engine-config.js';
import type { Clock } from '../../domain/clock.js';
import type { DatabaseConnection } from '../database/database.js';
import { EngineCallRepository } from '../database/repositories/engine-call-repository.js';
import type { ObjectStorage } from '../storage/object-storage.js';
import { ComfyUiEngine } from './comfyui/comfyui-engine.js';
import type { RemoteEngine } from './remote/remote-engine.js';
import { ReplicateEngine } from './replicate/replicate-engine.js';

/** A ComfyUI call with no news for this long is checked by the reconciler. */
const COMFYUI_RECONCILE_AFTER_MS = 60_000;

export interface RemoteEngines {
  /** The configured remote engines by name. */
  engines: Record<string, RemoteEngine>;
  /** The Replicate engine, which also receives webhooks, when REPLICATE_API_TOKEN is set. */
  replicate: ReplicateEngine | undefined;
}

/** Builds the ComfyUI and Replicate engines that the configuration enables. */
export function createRemoteEngines(
  config: EnginesConfig,
  dependencies: { database: DatabaseConnection; clock: Clock; logger: Logger; storage: ObjectStorage },
): RemoteEngines {
  const shared = {
    calls: new EngineCallRepository(dependencies.database.db),
    clock: dependencies.clock,
    logger: dependencies.logger,
  };
  const engines: Record<string, RemoteEngine> = {};

  if (config.comfyui !== undefined) {
    const comfyui = config.comfyui;
    engines.comfyui = new ComfyUiEngine(shared, {
      baseUrl: comfyui.baseUrl,
      headers: comfyui.headers,
      workflow: comfyui.workflow,
      requestTimeoutMs: comfyui.requestTimeoutMs,
      historyPollMs: comfyui.historyPollMs,
      limits: {
        maxConcurrency: comfyui.maxConcurrency,
        callTimeoutMs: comfyui.timeoutMs,
        reconcileAfterMs: COMFYUI_RECONCILE_AFTER_MS,
      },
    });
  }

  let replicate: ReplicateEngine | undefined;
  if (config.replicate !== undefined) {
    const settings = config.replicate;
    replicate = new ReplicateEngine(shared, {
      apiToken: settings.apiToken,
      baseUrl: settings.baseUrl,
      model: settings.model,
      input: settings.input,
      webhookUrl: settings.webhookUrl,
      webhookSecret: settings.webhookSecret,
      imageInput: settings.imageInput,
      requestTimeoutMs: settings.requestTimeoutMs,
      pollIntervalMs: settings.pollIntervalMs,
      limits: {
        maxConcurrency: settings.maxConcurrency,
        callTimeoutMs: settings.timeoutMs,
        reconcileAfterMs: settings.pollIntervalMs,
      },
      storage: dependencies.storage,
    });
    engines.replicate = replicate;
    if (!replicate.webhooksEnabled) {
      dependencies.logger.info(
        { engine: 'replicate', pollIntervalMs: settings.pollIntervalMs },
        'Replicate webhooks are off (no PUBLIC_BASE_URL or REPLICATE_WEBHOOK_URL); predictions are polled',
      );
    }
  }

  return { engines, replicate };
}
