import type { Insertable, Selectable, Updateable } from 'kysely';

/**
 * Table types shared by SQLite and PostgreSQL.
 *
 * Conventions that keep one code path for both dialects:
 * - times are integers of milliseconds since the Unix epoch (`bigint` in PostgreSQL, parsed to numbers);
 * - flags are integers 0 or 1, because better-sqlite3 cannot bind JavaScript booleans;
 * - structured values are JSON text, encoded and decoded in the repositories.
 */
export interface Database {
  users: UsersTable;
  device_tokens: DeviceTokensTable;
  catalog_settings: CatalogSettingsTable;
  packs: PacksTable;
  jobs: JobsTable;
  photos: PhotosTable;
  runs: RunsTable;
  generation_tasks: GenerationTasksTable;
  generated_images: GeneratedImagesTable;
  engine_preparations: EnginePreparationsTable;
  engine_calls: EngineCallsTable;
  replicate_webhook_events: ReplicateWebhookEventsTable;
}

export type Flag = 0 | 1;

export interface UsersTable {
  id: string;
  /** `Production`, `Sandbox`, or `Debug` for StoreKit testing purchases that Apple never saw. */
  environment: string;
  original_transaction_id: string;
  latest_transaction_id: string;
  product_id: string;
  expires_at: number | null;
  /** End of the billing grace period while Apple reports one, during which the subscription stays active. */
  grace_period_expires_at: number | null;
  /** `active`, `grace_period`, `billing_retry`, `expired`, `revoked` or `refunded`. */
  subscription_status: string;
  auto_renew: Flag | null;
  revoked_at: number | null;
  revocation_reason: number | null;
  created_at: number;
  updated_at: number;
}

export interface DeviceTokensTable {
  /** An FCM registration token. A token names one app install, so it belongs to one user at a time. */
  token: string;
  user_id: string;
  /** 1 when an FCM dry-run send accepted the token, 0 when it could not be checked. */
  verified: Flag;
  created_at: number;
  updated_at: number;
}

export interface CatalogSettingsTable {
  id: number;
  /** Settings shared by all packs (the `CONFIGS/prompt_configs` document), as JSON. */
  settings: string;
  /** Raised on every catalog change, so each process can tell its cached catalog is stale. */
  version: number;
  updated_at: number;
}

export interface PacksTable {
  name: string;
  display_name: string;
  is_active: Flag;
  featured: Flag;
  featured_thumbnail: string | null;
  num_images_per_prompt: number;
  num_prompts: number;
  /** JSON array of URLs. */
  secondary_thumbnail_images: string;
  /** JSON: a URL string or an array of URLs, returned as stored. */
  thumbnail: string;
  /** JSON array of `{ prompt, negative_prompt? }`. */
  prompts: string;
  display_order: number;
  /** Generation engine for this pack; null uses the server's default engine. */
  engine: string | null;
  /** JSON object of any further fields of the pack document, kept for export. */
  extra: string;
  created_at: number;
  updated_at: number;
}

export interface JobsTable {
  id: string;
  user_id: string;
  photo_count: number;
  created_at: number;
  updated_at: number;
}

export interface PhotosTable {
  id: string;
  job_id: string;
  storage_key: string;
  thumbnail_key: string;
  content_type: string;
  width: number;
  height: number;
  bytes: number;
  /** Perceptual hash as hex, for near-duplicate checks. */
  perceptual_hash: string | null;
  /** JSON `{ x, y, width, height }` in pixels of the stored photo. */
  face_box: string | null;
  /** JSON array of numbers. */
  face_descriptor: string | null;
  created_at: number;
}

export interface RunsTable {
  id: string;
  job_id: string;
  user_id: string;
  pack_name: string;
  engine: string;
  /** `queued`, `processing`, `completed`, `partial` or `failed`. */
  status: string;
  total_images: number;
  completed_images: number;
  failed_reason: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  notified_at: number | null;
}

export interface GenerationTasksTable {
  id: string;
  run_id: string;
  prompt_index: number;
  prompt: string;
  negative_prompt: string | null;
  seed: number;
  image_count: number;
  /** `pending`, `running`, `succeeded` or `failed`. */
  status: string;
  attempts: number;
  max_attempts: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  /** Earliest time a worker may claim the task; retries push it back. */
  available_at: number;
  last_error: string | null;
  /** The engine provider's id for the work, such as a prediction id. */
  provider_id: string | null;
  started_at: number | null;
  finished_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface GeneratedImagesTable {
  id: string;
  run_id: string;
  task_id: string;
  prompt_index: number;
  image_index: number;
  storage_key: string;
  content_type: string;
  width: number;
  height: number;
  bytes: number;
  created_at: number;
}

export interface EnginePreparationsTable {
  job_id: string;
  engine: string;
  /** JSON the engine needs again for every render, such as a face reference's storage key. */
  data: string;
  created_at: number;
}

/**
 * One piece of work sent to a remote engine: a ComfyUI prompt or a Replicate prediction. A task makes one
 * call, or one per image when the engine's template cannot ask for several images at once. There is no
 * foreign key to `jobs`, so the calls of a deleted job stay visible until they are cancelled.
 */
export interface EngineCallsTable {
  id: string;
  /** Engine name, such as `comfyui` or `replicate`. */
  engine: string;
  /** The provider's id: a ComfyUI prompt id or a Replicate prediction id. */
  provider_id: string;
  job_id: string;
  pack_name: string;
  prompt_index: number;
  /** Position of this call among the calls of one render, from 0. */
  batch_index: number;
  seed: number;
  image_count: number;
  /** `queued`, `processing`, `succeeded`, `failed` or `canceled`. */
  status: string;
  /** The provider's own status word, as last seen. */
  provider_status: string | null;
  /** Why the call failed or was cancelled, for operators. */
  error: string | null;
  /** 1 when a failure may succeed on retry, 0 when it is permanent, null while not failed. */
  retryable: Flag | null;
  /** JSON array of storage keys of outputs copied into our storage (Replicate). */
  output_keys: string | null;
  output_count: number | null;
  /** Provider-reported compute time in milliseconds, when it reports one. */
  predict_time_ms: number | null;
  created_at: number;
  updated_at: number;
  /** When the provider started running it. */
  started_at: number | null;
  /** When it reached a final status. */
  completed_at: number | null;
  /** Last time the provider was asked for the call's status (reconciliation). */
  checked_at: number | null;
  /** First time a webhook about the call was accepted. */
  webhook_received_at: number | null;
  /** The call is cancelled and failed if it is still open at this time. */
  deadline_at: number;
}

/** Webhook deliveries from Replicate that were verified and processed, by `webhook-id`. */
export interface ReplicateWebhookEventsTable {
  webhook_id: string;
  prediction_id: string;
  provider_status: string;
  received_at: number;
}

export type UserRow = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type PackRow = Selectable<PacksTable>;
export type JobRow = Selectable<JobsTable>;
export type PhotoRow = Selectable<PhotosTable>;
export type RunRow = Selectable<RunsTable>;
export type GenerationTaskRow = Selectable<GenerationTasksTable>;
export type GeneratedImageRow = Selectable<GeneratedImagesTable>;
export type EngineCallRow = Selectable<EngineCallsTable>;
