import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseWorkflow, type ParsedWorkflow } from '../adapters/engines/comfyui/workflow.js';
import { parseModelReference } from '../adapters/engines/replicate/prediction.js';
import { inspectTemplate, TemplateError, type TemplateUsage } from '../adapters/engines/remote/templates.js';
import type { EnvironmentReader } from './config.js';

/** The example identity-preserving workflow shipped in the repository, used when COMFYUI_WORKFLOW_PATH is unset. */
export const DEFAULT_COMFYUI_WORKFLOW = fileURLToPath(new URL('../../workflows/comfyui/instantid-portrait.json', import.meta.url));

export const ENGINE_NAMES = ['local', 'comfyui', 'replicate'] as const;

export interface ComfyUiConfig {
  baseUrl: string;
  /** Extra request headers, such as a reverse proxy's token. Never logged. */
  headers: Record<string, string>;
  workflowPath: string;
  workflow: ParsedWorkflow;
  maxConcurrency: number;
  timeoutMs: number;
  requestTimeoutMs: number;
  historyPollMs: number;
}

export interface ReplicateConfig {
  apiToken: string;
  baseUrl: string;
  model: string;
  input: { template: unknown; usage: TemplateUsage };
  webhookUrl: string | undefined;
  webhookSecret: string | undefined;
  imageInput: 'data-uri' | 'signed-url';
  maxConcurrency: number;
  timeoutMs: number;
  requestTimeoutMs: number;
  pollIntervalMs: number;
}

export interface EnginesConfig {
  /** Engine for packs whose `engine` is null. */
  defaultEngine: (typeof ENGINE_NAMES)[number];
  local: {
    /** Fewest accepted photos a job needs before a pack can start on the local engine. */
    minimumPhotos: number;
  };
  /** Set when COMFYUI_URL is. */
  comfyui: ComfyUiConfig | undefined;
  /** Set when REPLICATE_API_TOKEN is. */
  replicate: ReplicateConfig | undefined;
  /** Interval at which each process checks remote calls that no render waits on. 0 turns the check off. */
  reconcileIntervalMs: number;
}

/** Reads the generation engines' variables; problems go to `read.problems` like every other variable. */
export function readEngineConfig(read: EnvironmentReader, publicBaseUrl: string | undefined): EnginesConfig {
  const comfyui = readComfyUiConfig(read);
  const replicate = readReplicateConfig(read, publicBaseUrl);
  const defaultEngine = read.oneOf('GENERATION_ENGINE', ENGINE_NAMES, 'local');
  if (defaultEngine === 'comfyui' && comfyui === undefined) {
    read.problems.push('GENERATION_ENGINE is comfyui, so COMFYUI_URL is required');
  }
  if (defaultEngine === 'replicate' && replicate === undefined) {
    read.problems.push('GENERATION_ENGINE is replicate, so REPLICATE_API_TOKEN is required');
  }
  const reconcileIntervalMs = read.integer('ENGINE_RECONCILE_INTERVAL_MS', 60_000, 0, 24 * 3600 * 1000);
  const local = { minimumPhotos: read.integer('LOCAL_ENGINE_MIN_PHOTOS', 1, 1, 100) };
  return { defaultEngine, local, comfyui, replicate, reconcileIntervalMs };
}

function readComfyUiConfig(read: EnvironmentReader): ComfyUiConfig | undefined {
  const baseUrl = read.url('COMFYUI_URL', ['http:', 'https:']);
  if (baseUrl === undefined) {
    return undefined;
  }
  const workflowPath = read.string('COMFYUI_WORKFLOW_PATH', DEFAULT_COMFYUI_WORKFLOW);
  let workflow: ParsedWorkflow = { workflow: {}, usage: { usesPrompt: true, usesImageCount: false, referenceImageCount: 0, usesReferenceList: false } };
  try {
    workflow = parseWorkflow(readFileSync(workflowPath, 'utf8'));
  } catch (error) {
    const reason = error instanceof TemplateError ? error.problems.join('; ') : (error as Error).message;
    read.problems.push(`COMFYUI_WORKFLOW_PATH (${workflowPath}) is not a usable workflow: ${reason}`);
  }
  return {
    baseUrl,
    headers: readHeaders(read, 'COMFYUI_HEADERS'),
    workflowPath,
    workflow,
    maxConcurrency: read.integer('COMFYUI_MAX_CONCURRENCY', 2, 1, 64),
    timeoutMs: read.integer('COMFYUI_TIMEOUT_MS', 600_000, 100, 24 * 3600 * 1000),
    requestTimeoutMs: read.integer('COMFYUI_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
    historyPollMs: read.integer('COMFYUI_HISTORY_POLL_MS', 2_000, 10, 600_000),
  };
}

function readReplicateConfig(read: EnvironmentReader, publicBaseUrl: string | undefined): ReplicateConfig | undefined {
  const apiToken = read.optionalString('REPLICATE_API_TOKEN');
  if (apiToken === undefined) {
    return undefined;
  }

  const model = read.optionalString('REPLICATE_MODEL') ?? '';
  try {
    parseModelReference(model);
  } catch (error) {
    read.problems.push(`REPLICATE_MODEL is required with REPLICATE_API_TOKEN: ${(error as Error).message}`);
  }

  const input = readInputTemplate(read);
  const webhookUrl =
    read.url('REPLICATE_WEBHOOK_URL', ['https:', 'http:']) ??
    (publicBaseUrl === undefined ? undefined : `${publicBaseUrl}/webhooks/replicate`);
  const webhookSecret = read.optionalString('REPLICATE_WEBHOOK_SECRET');
  if (webhookSecret !== undefined && !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(webhookSecret)) {
    read.problems.push('REPLICATE_WEBHOOK_SECRET must be the whsec_… secret from GET /v1/webhooks/default/secret');
  }
  if (webhookUrl !== undefined && webhookSecret === undefined) {
    read.problems.push(
      'REPLICATE_WEBHOOK_SECRET is required when webhooks are sent (PUBLIC_BASE_URL or REPLICATE_WEBHOOK_URL is set), so deliveries can be verified',
    );
  }

  return {
    apiToken,
    baseUrl: read.url('REPLICATE_BASE_URL', ['https:', 'http:']) ?? 'https://api.replicate.com/v1',
    model,
    input,
    webhookUrl,
    webhookSecret,
    imageInput: read.oneOf('REPLICATE_IMAGE_INPUT', ['data-uri', 'signed-url'], 'data-uri'),
    maxConcurrency: read.integer('REPLICATE_MAX_CONCURRENCY', 4, 1, 64),
    timeoutMs: read.integer('REPLICATE_TIMEOUT_MS', 600_000, 100, 24 * 3600 * 1000),
    requestTimeoutMs: read.integer('REPLICATE_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
    // With webhooks, polling only catches the ones that never arrive; without them it is the only way.
    pollIntervalMs: read.integer('REPLICATE_POLL_INTERVAL_MS', webhookUrl === undefined ? 2_000 : 20_000, 10, 600_000),
  };
}

function readInputTemplate(read: EnvironmentReader): ReplicateConfig['input'] {
  const fallback = { template: {}, usage: { usesPrompt: true, usesImageCount: false, referenceImageCount: 0, usesReferenceList: false } };
  const raw = read.optionalString('REPLICATE_INPUT');
  if (raw === undefined) {
    read.problems.push('REPLICATE_INPUT is required with REPLICATE_API_TOKEN: a JSON object of the model\'s inputs with placeholders such as {{prompt}}');
    return fallback;
  }
  let template: unknown;
  try {
    template = JSON.parse(raw);
  } catch (error) {
    read.problems.push(`REPLICATE_INPUT must be a JSON object (${(error as Error).message})`);
    return fallback;
  }
  if (template === null || typeof template !== 'object' || Array.isArray(template)) {
    read.problems.push('REPLICATE_INPUT must be a JSON object of the model\'s input fields');
    return fallback;
  }
  try {
    return { template, usage: inspectTemplate(template) };
  } catch (error) {
    read.problems.push(`REPLICATE_INPUT: ${(error as Error).message}`);
    return fallback;
  }
}

/** Reads a JSON object of header names to string values. The message never repeats the values. */
function readHeaders(read: EnvironmentReader, name: string): Record<string, string> {
  const raw = read.optionalString(name);
  if (raw === undefined) {
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    read.problems.push(`${name} must be a JSON object such as {"Authorization":"Bearer …"}; it is not valid JSON`);
    return {};
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    read.problems.push(`${name} must be a JSON object of header names to values`);
    return {};
  }
  const headers: Record<string, string> = {};
  for (const [header, value] of Object.entries(parsed)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header) || typeof value !== 'string' || /[\r\n]/.test(value)) {
      read.problems.push(`${name} has an invalid entry "${header}": names must be HTTP tokens and values single-line strings`);
      continue;
    }
    headers[header] = value;
  }
  return headers;
}
