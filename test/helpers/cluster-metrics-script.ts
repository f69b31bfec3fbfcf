// Forks three cluster workers that each record some metrics, then has the last one render the cluster's
// metrics through the primary and prints them. Run by test/integration/metrics.test.ts.
import cluster from 'node:cluster';
import pino from 'pino';
import { serveClusterMetrics } from '../../src/adapters/metrics/cluster-metrics.js';
import { Metrics } from '../../src/adapters/metrics/metrics.js';

const WORKERS = 3;

if (cluster.isPrimary) {
  serveClusterMetrics(pino({ level: 'silent' }));
  let ready = 0;
  const workers = Array.from({ length: WORKERS }, (_, index) => cluster.fork({ WORKER_INDEX: String(index + 1) }));
  cluster.on('message', (_worker, message: { type?: string; body?: string }) => {
    if (message.type === 'test:ready') {
      ready += 1;
      if (ready === WORKERS) {
        workers.at(-1)!.send({ type: 'test:render' });
      }
    }
    if (message.type === 'test:rendered') {
      process.stdout.write(message.body ?? '');
      for (const worker of workers) {
        worker.kill();
      }
    }
  });
} else {
  const metrics = new Metrics();
  const index = Number(process.env.WORKER_INDEX);
  for (let count = 0; count < index; count += 1) {
    metrics.countTaskFailure('local');
  }
  metrics.setQueueDepthReader(async () => ({ waiting: 7 }));
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'test:render') {
      void metrics.render().then((rendered) => process.send!({ type: 'test:rendered', body: rendered.body }));
    }
  });
  process.send!({ type: 'test:ready' });
}
