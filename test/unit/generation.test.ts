import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunRow } from '../../src/adapters/database/schema.js';
import { retryDelayMs } from '../../src/adapters/queue/task-queue.js';
import { loadConfig } from '../../src/config/config.js';
import { combineReasons, combineRunStatuses } from '../../src/domain/generation/job-status.js';
import { runFinishedMessage } from '../../src/domain/generation/run-notifier.js';
import { resultStorageKey, taskSeed } from '../../src/domain/generation/storage-keys.js';
import { taskTimeoutFor } from '../../src/domain/generation/task-processor.js';
import type { GenerationEngine } from '../../src/adapters/engines/generation-engine.js';
import { createLocalEngine } from '../../src/adapters/engines/local/local-engine.js';

/** An engine that is never called; only its deadline matters. */
const NO_OP_ENGINE: GenerationEngine = {
  name: 'no-op',
  minimumPhotos: 1,
  prepare: () => Promise.reject(new Error('not called')),
  render: () => Promise.reject(new Error('not called')),
};

function run(status: string, overrides: Partial<RunRow> = {}): RunRow {
  return {
    id: `run-${status}`,
    job_id: 'job',
    user_id: 'user',
    pack_name: `pack-${status}`,
    engine: 'local',
    status,
    total_images: 4,
    completed_images: 0,
    failed_reason: null,
    created_at: 0,
    updated_at: 0,
    started_at: null,
    finished_at: null,
    notified_at: null,
    ...overrides,
  };
}

describe('retryDelayMs', () => {
  it('doubles from the base delay', () => {
    const middle = () => 0.5;

    assert.deepEqual([1, 2, 3, 4].map((retry) => retryDelayMs(retry, 1000, 60_000, middle)), [1000, 2000, 4000, 8000]);
  });

  it('stops at the maximum delay', () => {
    assert.equal(retryDelayMs(20, 1000, 60_000, () => 0.5), 60_000);
  });

  it('keeps jitter within 20 percent', () => {
    assert.equal(retryDelayMs(1, 1000, 60_000, () => 0), 800);
    assert.equal(retryDelayMs(1, 1000, 60_000, () => 1), 1200);
  });
});

describe('combineRunStatuses', () => {
  const cases: Array<[string[], string]> = [
    [[], 'not_started'],
    [['queued'], 'queued'],
    [['completed', 'queued'], 'processing'],
    [['processing'], 'processing'],
    [['completed', 'completed'], 'completed'],
    [['failed', 'failed'], 'failed'],
    [['completed', 'failed'], 'partial'],
    [['partial'], 'partial'],
  ];
  for (const [statuses, expected] of cases) {
    it(`combines [${statuses.join(', ')}] to ${expected}`, () => {
      assert.equal(combineRunStatuses(statuses.map((status) => run(status))), expected);
    });
  }
});

describe('combineReasons', () => {
  it('names the pack of each reason when a job has several runs', () => {
    const runs = [run('completed'), run('failed', { failed_reason: 'No images could be made.' })];

    assert.equal(combineReasons(runs), 'pack-failed: No images could be made.');
  });

  it('returns a single run\'s reason unchanged', () => {
    assert.equal(combineReasons([run('failed', { failed_reason: 'Broken.' })]), 'Broken.');
  });
});

describe('storage keys and seeds', () => {
  it('names a result by job, run, prompt and image', () => {
    assert.equal(resultStorageKey('job-1', 'run-1', 2, 3, 'image/jpeg'), 'jobs/job-1/results/run-1/2-3.jpg');
  });

  it('derives the same seed from the same inputs', () => {
    assert.equal(taskSeed('job', 'neon', 0), taskSeed('job', 'neon', 0));
    assert.notEqual(taskSeed('job', 'neon', 0), taskSeed('job', 'neon', 1));
    assert.ok(taskSeed('job', 'neon', 0) <= 0x7fffffff);
  });
});

describe('runFinishedMessage', () => {
  it('carries job id, pack and status as data', () => {
    const message = runFinishedMessage(run('partial'), 'Neonpunk');

    assert.deepEqual(message.data, { jobId: 'job', pack_name: 'pack-partial', status: 'partial' });
    assert.match(message.body, /Neonpunk/);
  });
});

describe('generation configuration', () => {
  it('reports every invalid generation variable', () => {
    assert.throws(
      () => loadConfig({ NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), TASK_MAX_ATTEMPTS: '0', WORKER_LEASE_MS: 'soon', TASK_RETRY_BASE_DELAY_MS: '5000', TASK_RETRY_MAX_DELAY_MS: '100' }),
      (error: Error) =>
        /TASK_MAX_ATTEMPTS/.test(error.message) && /WORKER_LEASE_MS/.test(error.message) && /TASK_RETRY_MAX_DELAY_MS must be at least/.test(error.message),
    );
  });
});

describe('taskTimeoutFor', () => {
  const configured = 180_000;

  it('keeps TASK_TIMEOUT_MS for the local engine', () => {
    assert.equal(taskTimeoutFor(createLocalEngine(loadConfig({ NODE_ENV: 'test' })), configured), configured);
  });

  it('uses a longer engine deadline', () => {
    assert.equal(taskTimeoutFor({ ...NO_OP_ENGINE, taskTimeoutMs: 660_000 }, configured), 660_000);
  });

  it('keeps TASK_TIMEOUT_MS over a shorter engine deadline', () => {
    assert.equal(taskTimeoutFor({ ...NO_OP_ENGINE, taskTimeoutMs: 1_000 }, configured), configured);
  });
});
