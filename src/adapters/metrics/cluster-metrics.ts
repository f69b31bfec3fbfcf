import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';

// Under node:cluster a scrape reaches one API process, chosen by the primary's round robin. That process
// requests the metrics from the primary, which gathers every process's registry with prom-client's
// AggregatorRegistry.
const REQUEST = 'envision:metrics-request';
const RESPONSE = 'envision:metrics-response';
const TIMEOUT_MS = 10_000;

interface MetricsRequest {
  type: typeof REQUEST;
  requestId: string;
}

interface MetricsResponse {
  type: typeof RESPONSE;
  requestId: string;
  body?: string;
  error?: string;
}

/** Serves the API processes' requests for the whole cluster's metrics. Call once in the primary. */
export function serveClusterMetrics(logger: Logger): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: Partial<MetricsRequest>) => {
    const requestId = message?.requestId;
    if (message?.type !== REQUEST || typeof requestId !== 'string') {
      return;
    }
    const reply = (response: Omit<MetricsResponse, 'type' | 'requestId'>) => {
      if (worker.isConnected()) {
        worker.send({ type: RESPONSE, requestId, ...response } satisfies MetricsResponse);
      }
    };
    aggregator.clusterMetrics().then(
      (body) => reply({ body }),
      (error: unknown) => {
        logger.warn({ err: error }, 'collecting metrics from the API processes failed');
        reply({ error: (error as Error).message });
      },
    );
  });
}

/** Requests the metrics of every API process from the primary. Only for cluster workers. */
export function requestClusterMetrics(): Promise<string> {
  const requestId = randomUUID();
  return new Promise((resolve, reject) => {
    const onMessage = (message: Partial<MetricsResponse>) => {
      if (message?.type !== RESPONSE || message.requestId !== requestId) {
        return;
      }
      finish();
      if (message.error !== undefined || message.body === undefined) {
        reject(new Error(`The primary process could not collect metrics: ${message.error ?? 'empty response'}`));
      } else {
        resolve(message.body);
      }
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`The primary process did not send metrics within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    const finish = () => {
      clearTimeout(timer);
      process.off('message', onMessage);
    };
    process.on('message', onMessage);
    process.send!({ type: REQUEST, requestId } satisfies MetricsRequest);
  });
}
