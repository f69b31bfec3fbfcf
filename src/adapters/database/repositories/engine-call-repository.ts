import type { Kysely, Updateable } from 'kysely';
import type { Database, EngineCallRow, EngineCallsTable } from '../schema.js';

export type EngineCallStatus = 'queued' | 'processing' | 'succeeded' | 'failed' | 'canceled';

/** Statuses from which a call can still move on. `succeeded`, `failed` and `canceled` are final. */
export const OPEN_CALL_STATUSES: readonly EngineCallStatus[] = ['queued', 'processing'];

export interface NewEngineCall {
  id: string;
  engine: string;
  providerId: string;
  jobId: string;
  packName: string;
  promptIndex: number;
  batchIndex: number;
  seed: number;
  imageCount: number;
  providerStatus: string | null;
  createdAt: number;
  deadlineAt: number;
}

/** Identifies the calls of one render: the task (job, pack, prompt) and the call's place in it. */
export interface CallSlot {
  engine: string;
  jobId: string;
  packName: string;
  promptIndex: number;
  batchIndex: number;
  seed: number;
}

export type EngineCallUpdate = Updateable<EngineCallsTable>;

/** Queries on `engine_calls` and `replicate_webhook_events`, the remote engines' record of their work. */
export class EngineCallRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insertCall(call: NewEngineCall): Promise<EngineCallRow> {
    const row = {
      id: call.id,
      engine: call.engine,
      provider_id: call.providerId,
      job_id: call.jobId,
      pack_name: call.packName,
      prompt_index: call.promptIndex,
      batch_index: call.batchIndex,
      seed: call.seed,
      image_count: call.imageCount,
      status: 'queued',
      provider_status: call.providerStatus,
      error: null,
      retryable: null,
      output_keys: null,
      output_count: null,
      predict_time_ms: null,
      created_at: call.createdAt,
      updated_at: call.createdAt,
      started_at: null,
      completed_at: null,
      checked_at: null,
      webhook_received_at: null,
      deadline_at: call.deadlineAt,
    } satisfies EngineCallRow;
    await this.db.insertInto('engine_calls').values(row).execute();
    return row;
  }

  async findCallById(id: string): Promise<EngineCallRow | undefined> {
    return this.db.selectFrom('engine_calls').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findCallByProviderId(engine: string, providerId: string): Promise<EngineCallRow | undefined> {
    return this.db
      .selectFrom('engine_calls')
      .selectAll()
      .where('engine', '=', engine)
      .where('provider_id', '=', providerId)
      .executeTakeFirst();
  }

  /**
   * Finds the newest call for `slot` that is still running or succeeded, so a retried task picks up work
   * that an earlier attempt started instead of paying for it twice.
   */
  async findResumableCall(slot: CallSlot): Promise<EngineCallRow | undefined> {
    return this.db
      .selectFrom('engine_calls')
      .selectAll()
      .where('engine', '=', slot.engine)
      .where('job_id', '=', slot.jobId)
      .where('pack_name', '=', slot.packName)
      .where('prompt_index', '=', slot.promptIndex)
      .where('batch_index', '=', slot.batchIndex)
      .where('seed', '=', slot.seed)
      .where('status', 'in', ['queued', 'processing', 'succeeded'])
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  /**
   * Applies `update` only while the call is open, so a late or repeated report never changes a final
   * outcome. Returns whether the row changed.
   */
  async updateOpenCall(id: string, update: EngineCallUpdate): Promise<boolean> {
    return this.updateCallInStatus(id, OPEN_CALL_STATUSES, update);
  }

  /** Applies `update` only while the call's status is one of `statuses`. Returns whether the row changed. */
  async updateCallInStatus(id: string, statuses: readonly EngineCallStatus[], update: EngineCallUpdate): Promise<boolean> {
    const result = await this.db
      .updateTable('engine_calls')
      .set(update)
      .where('id', '=', id)
      .where('status', 'in', statuses)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async markChecked(id: string, checkedAt: number): Promise<void> {
    await this.db.updateTable('engine_calls').set({ checked_at: checkedAt }).where('id', '=', id).execute();
  }

  async markWebhookReceived(id: string, receivedAt: number): Promise<void> {
    await this.db
      .updateTable('engine_calls')
      .set({ webhook_received_at: receivedAt })
      .where('id', '=', id)
      .where('webhook_received_at', 'is', null)
      .execute();
  }

  /** Open calls of `engine` neither updated nor checked since `before`, oldest first. */
  async listQuietOpenCalls(engine: string, before: number, limit: number): Promise<EngineCallRow[]> {
    return this.db
      .selectFrom('engine_calls')
      .selectAll()
      .where('engine', '=', engine)
      .where('status', 'in', OPEN_CALL_STATUSES)
      .where('updated_at', '<', before)
      .where((where) => where.or([where('checked_at', 'is', null), where('checked_at', '<', before)]))
      .orderBy('updated_at', 'asc')
      .limit(limit)
      .execute();
  }

  async jobExists(jobId: string): Promise<boolean> {
    const row = await this.db.selectFrom('jobs').select('id').where('id', '=', jobId).executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Stores the provider's id on the generation task the call serves, when that task exists, so operators
   * find it from the task. Tasks are found by job, pack and prompt index, which the engine interface
   * carries; the runs table keeps one run per job and pack.
   */
  async recordTaskProviderId(jobId: string, packName: string, promptIndex: number, providerId: string): Promise<void> {
    await this.db
      .updateTable('generation_tasks')
      .set({ provider_id: providerId })
      .where('prompt_index', '=', promptIndex)
      .where('run_id', 'in', (query) =>
        query.selectFrom('runs').select('runs.id').where('runs.job_id', '=', jobId).where('runs.pack_name', '=', packName),
      )
      .execute();
  }

  async webhookEventExists(webhookId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('replicate_webhook_events')
      .select('webhook_id')
      .where('webhook_id', '=', webhookId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Records a processed delivery. Returns false when the same `webhook-id` was recorded before. */
  async insertWebhookEvent(event: {
    webhookId: string;
    predictionId: string;
    providerStatus: string;
    receivedAt: number;
  }): Promise<boolean> {
    const result = await this.db
      .insertInto('replicate_webhook_events')
      .values({
        webhook_id: event.webhookId,
        prediction_id: event.predictionId,
        provider_status: event.providerStatus,
        received_at: event.receivedAt,
      })
      .onConflict((conflict) => conflict.column('webhook_id').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  }
}
