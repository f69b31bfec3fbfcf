import type { ImageWithPack } from '../../adapters/database/repositories/generation-repository.js';
import type { RunRow } from '../../adapters/database/schema.js';

export type RunStatus = 'queued' | 'processing' | 'completed' | 'partial' | 'failed';
/** A job's status: its runs' statuses combined, or `not_started` before any pack was started. */
export type JobStatus = RunStatus | 'not_started';

export interface Progress {
  done: number;
  total: number;
}

export interface RunSummary {
  pack_name: string;
  status: RunStatus;
  progress: Progress;
  reason: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface ImageView {
  pack_name: string;
  prompt_index: number;
  image_index: number;
  url: string;
  content_type: string;
  width: number;
  height: number;
}

export interface JobStatusView {
  jobId: string;
  status: JobStatus;
  progress: Progress;
  reason: string | null;
  runs: RunSummary[];
  images: ImageView[];
  /** When the links in `images` stop working; null when there are none. */
  urls_expire_at: string | null;
}

export function summarizeRun(run: RunRow): RunSummary {
  return {
    pack_name: run.pack_name,
    status: run.status as RunStatus,
    progress: { done: run.completed_images, total: run.total_images },
    reason: run.failed_reason,
    created_at: new Date(run.created_at).toISOString(),
    finished_at: run.finished_at === null ? null : new Date(run.finished_at).toISOString(),
  };
}

/**
 * Combines the statuses of one job's runs. While any run is open the job is `processing`, or `queued`
 * when no run has started work. Once all are finished it is `completed` if every run completed, `failed`
 * if every run failed, and `partial` otherwise.
 */
export function combineRunStatuses(runs: RunRow[]): JobStatus {
  if (runs.length === 0) {
    return 'not_started';
  }
  const open = runs.filter((run) => run.status === 'queued' || run.status === 'processing');
  if (open.length > 0) {
    const started = runs.some((run) => run.status !== 'queued');
    return started ? 'processing' : 'queued';
  }
  if (runs.every((run) => run.status === 'completed')) {
    return 'completed';
  }
  if (runs.every((run) => run.status === 'failed')) {
    return 'failed';
  }
  return 'partial';
}

/** Joins the failed runs' reasons, each led by its pack name when the job has several runs. */
export function combineReasons(runs: RunRow[]): string | null {
  const reasons = runs
    .filter((run) => run.failed_reason !== null)
    .map((run) => (runs.length > 1 ? `${run.pack_name}: ${run.failed_reason}` : (run.failed_reason as string)));
  return reasons.length === 0 ? null : reasons.join(' ');
}

export function buildJobStatusView(jobId: string, runs: RunRow[], images: ImageWithPack[], urls: string[], urlsExpireAt: number): JobStatusView {
  return {
    jobId,
    status: combineRunStatuses(runs),
    progress: {
      done: runs.reduce((sum, run) => sum + run.completed_images, 0),
      total: runs.reduce((sum, run) => sum + run.total_images, 0),
    },
    reason: combineReasons(runs),
    runs: runs.map(summarizeRun),
    images: images.map((image, index) => ({
      pack_name: image.pack_name,
      prompt_index: image.prompt_index,
      image_index: image.image_index,
      url: urls[index] as string,
      content_type: image.content_type,
      width: image.width,
      height: image.height,
    })),
    urls_expire_at: images.length === 0 ? null : new Date(urlsExpireAt).toISOString(),
  };
}
