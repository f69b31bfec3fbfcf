import type { Logger } from 'pino';
import type { GenerationRepository } from '../../adapters/database/repositories/generation-repository.js';
import type { UserRepository } from '../../adapters/database/repositories/user-repository.js';
import type { RunRow } from '../../adapters/database/schema.js';
import type { PushMessage, PushNotifier } from '../../adapters/push/push-notifier.js';
import type { Clock } from '../clock.js';
import type { PackService } from '../packs/pack-service.js';

/** Runs checked per sweep for pushes that are still due. */
const SWEEP_BATCH = 50;

/**
 * Tells a user's devices that a run ended. A run is marked notified before the push is sent, so a push
 * goes out at most once even when several workers see the run end. A process that dies between the two
 * loses that push. A failed push is logged and never changes the run.
 */
export class RunNotifier {
  constructor(
    private readonly generation: GenerationRepository,
    private readonly packs: Pick<PackService, 'findPackForGeneration'>,
    private readonly users: UserRepository,
    private readonly pushNotifier: PushNotifier,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Sends the push for a finished run unless it was already sent. Never throws. */
  async notifyRun(run: RunRow): Promise<void> {
    const log = this.logger.child({ runId: run.id, jobId: run.job_id, packName: run.pack_name, status: run.status });
    try {
      if (!(await this.generation.claimRunNotification(run.id, this.clock.now()))) {
        return;
      }
      const tokens = await this.users.listDeviceTokens(run.user_id);
      if (tokens.length === 0) {
        log.info('run finished; the user has no device token to notify');
        return;
      }
      const displayName = (await this.packs.findPackForGeneration(run.pack_name))?.displayName ?? run.pack_name;
      const { unregisteredTokens } = await this.pushNotifier.send(tokens, runFinishedMessage(run, displayName));
      await this.users.deleteDeviceTokens(unregisteredTokens);
      log.info({ devices: tokens.length, removedTokens: unregisteredTokens.length }, 'run finished; push sent');
    } catch (error) {
      log.warn({ err: error }, 'sending the run-finished push failed; the run is unaffected');
    }
  }

  /** Sends the pushes of finished runs whose worker stopped before it could. Never throws. */
  async sendDueNotifications(): Promise<void> {
    try {
      const runs = await this.generation.listRunsAwaitingNotification(SWEEP_BATCH);
      for (const run of runs) {
        await this.notifyRun(run);
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'looking for runs awaiting a push failed');
    }
  }
}

/** Builds the push for a finished run. The app reads the data keys to open the job. */
export function runFinishedMessage(run: RunRow, packDisplayName: string): PushMessage {
  const text: Record<string, { title: string; body: string }> = {
    completed: { title: 'Your portraits are ready', body: `Your ${packDisplayName} pack is ready to view.` },
    partial: { title: 'Your portraits are ready', body: `Part of your ${packDisplayName} pack is ready; some images could not be made.` },
    failed: { title: 'Your portraits could not be made', body: `Your ${packDisplayName} pack could not be made. Open the app to try again.` },
  };
  const { title, body } = text[run.status] ?? { title: 'Your portraits', body: `Your ${packDisplayName} pack has an update.` };
  return { title, body, data: { jobId: run.job_id, pack_name: run.pack_name, status: run.status } };
}
