import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { requestClusterMetrics } from './cluster-metrics.js';

/** Recorder of generation task outcomes, called by the worker code that runs tasks. */
export interface TaskMetrics {
  /** Records one attempt of a task on `engine`, which took `seconds` and ended with `outcome`. */
  observeTaskAttempt(engine: string, outcome: 'succeeded' | 'failed', seconds: number): void;
  /** Counts a task on `engine` that failed for good, after its last attempt. */
  countTaskFailure(engine: string): void;
}

/** Recorder of rejected photo uploads, by the error code sent to the client. */
export interface UploadMetrics {
  countUploadRejected(reason: string): void;
}

/** Number of tasks in the queue by state (such as `waiting`, `delayed`, `active`), read at each scrape. */
export type QueueDepthReader = () => Promise<Record<string, number>>;

// Seconds. Requests: from a cached catalog read to a slow upload. Attempts: a local render takes seconds,
// a remote GPU provider minutes.
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const TASK_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/**
 * The process's Prometheus metrics. Each process has its own registry. Under node:cluster an API process
 * responds to a scrape with the sum over all API processes, collected by the primary (see cluster-metrics.ts).
 */
export class Metrics implements TaskMetrics, UploadMetrics {
  readonly registry = new Registry();
  private readonly requestDuration: Histogram<'method' | 'route' | 'status_code'>;
  private readonly taskAttemptDuration: Histogram<'engine' | 'outcome'>;
  private readonly taskFailures: Counter<'engine'>;
  private readonly uploadsRejected: Counter<'reason'>;
  private queueDepthReader: QueueDepthReader | undefined;

  constructor(private readonly logger?: Logger) {
    collectDefaultMetrics({ register: this.registry });

    this.requestDuration = new Histogram({
      name: 'envision_http_request_duration_seconds',
      help: 'Time to respond to an HTTP request, by method, route template and status code. Its _count gives request rates.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: REQUEST_BUCKETS,
      registers: [this.registry],
    });
    this.taskAttemptDuration = new Histogram({
      name: 'envision_task_attempt_duration_seconds',
      help: 'Time one attempt of a generation task took, by engine and outcome (succeeded or failed).',
      labelNames: ['engine', 'outcome'],
      buckets: TASK_BUCKETS,
      registers: [this.registry],
    });
    this.taskFailures = new Counter({
      name: 'envision_tasks_failed_total',
      help: 'Generation tasks that failed for good, after their last attempt, by engine.',
      labelNames: ['engine'],
      registers: [this.registry],
    });
    this.uploadsRejected = new Counter({
      name: 'envision_uploads_rejected_total',
      help: 'Photo uploads rejected, by reason (the error code returned to the client).',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.registerQueueDepth();

    if (cluster.isWorker) {
      // Lets the primary collect this registry when another API process is scraped.
      AggregatorRegistry.setRegistries([this.registry]);
      new AggregatorRegistry();
    }
  }

  observeRequest(method: string, route: string, statusCode: number, seconds: number): void {
    this.requestDuration.observe({ method, route, status_code: String(statusCode) }, seconds);
  }

  observeTaskAttempt(engine: string, outcome: 'succeeded' | 'failed', seconds: number): void {
    this.taskAttemptDuration.observe({ engine, outcome }, seconds);
  }

  countTaskFailure(engine: string): void {
    this.taskFailures.inc({ engine });
  }

  countUploadRejected(reason: string): void {
    this.uploadsRejected.inc({ reason });
  }

  /** Sets the source of the queue depth gauge. The queue in use calls it. */
  setQueueDepthReader(reader: QueueDepthReader): void {
    this.queueDepthReader = reader;
  }

  /** Renders the metrics in the Prometheus text format: this process's, or the whole cluster's. */
  async render(): Promise<{ contentType: string; body: string }> {
    const body = cluster.isWorker ? await requestClusterMetrics() : await this.registry.metrics();
    return { contentType: this.registry.contentType, body };
  }

  private registerQueueDepth(): void {
    const metrics = this;
    new Gauge({
      name: 'envision_queue_tasks',
      help: 'Generation tasks in the queue, by state. Every process reports the same queue.',
      labelNames: ['state'],
      // Summing across cluster processes would count the one queue several times.
      aggregator: 'max',
      registers: [this.registry],
      async collect() {
        this.reset();
        if (metrics.queueDepthReader === undefined) {
          return;
        }
        try {
          for (const [state, count] of Object.entries(await metrics.queueDepthReader())) {
            this.set({ state }, count);
          }
        } catch (error) {
          metrics.logger?.warn({ err: error }, 'reading the queue depth for /metrics failed; leaving it out of this scrape');
        }
      },
    });
  }
}
