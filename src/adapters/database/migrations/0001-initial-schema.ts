import type { Kysely } from 'kysely';

// Column types are chosen to mean the same on SQLite and PostgreSQL: `bigint` for epoch milliseconds,
// `integer` for counts and 0/1 flags, `text` for ids and JSON.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('environment', 'text', (column) => column.notNull())
    .addColumn('original_transaction_id', 'text', (column) => column.notNull())
    .addColumn('latest_transaction_id', 'text', (column) => column.notNull())
    .addColumn('product_id', 'text', (column) => column.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('grace_period_expires_at', 'bigint')
    .addColumn('subscription_status', 'text', (column) => column.notNull())
    .addColumn('auto_renew', 'integer')
    .addColumn('revoked_at', 'bigint')
    .addColumn('revocation_reason', 'integer')
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addUniqueConstraint('users_environment_original_transaction_id_key', ['environment', 'original_transaction_id'])
    .execute();

  await db.schema
    .createTable('device_tokens')
    .addColumn('token', 'text', (column) => column.primaryKey())
    .addColumn('user_id', 'text', (column) => column.notNull().references('users.id').onDelete('cascade'))
    .addColumn('verified', 'integer', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('device_tokens_user_id_idx').on('device_tokens').column('user_id').execute();

  await db.schema
    .createTable('catalog_settings')
    .addColumn('id', 'integer', (column) => column.primaryKey())
    .addColumn('settings', 'text', (column) => column.notNull())
    .addColumn('version', 'integer', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .execute();

  await db.schema
    .createTable('packs')
    .addColumn('name', 'text', (column) => column.primaryKey())
    .addColumn('display_name', 'text', (column) => column.notNull())
    .addColumn('is_active', 'integer', (column) => column.notNull())
    .addColumn('featured', 'integer', (column) => column.notNull())
    .addColumn('featured_thumbnail', 'text')
    .addColumn('num_images_per_prompt', 'integer', (column) => column.notNull())
    .addColumn('num_prompts', 'integer', (column) => column.notNull())
    .addColumn('secondary_thumbnail_images', 'text', (column) => column.notNull())
    .addColumn('thumbnail', 'text', (column) => column.notNull())
    .addColumn('prompts', 'text', (column) => column.notNull())
    .addColumn('display_order', 'integer', (column) => column.notNull())
    .addColumn('engine', 'text')
    .addColumn('extra', 'text', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .execute();

  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('user_id', 'text', (column) => column.notNull().references('users.id').onDelete('cascade'))
    .addColumn('photo_count', 'integer', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('jobs_user_id_created_at_idx').on('jobs').columns(['user_id', 'created_at']).execute();

  await db.schema
    .createTable('photos')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('job_id', 'text', (column) => column.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('storage_key', 'text', (column) => column.notNull())
    .addColumn('thumbnail_key', 'text', (column) => column.notNull())
    .addColumn('content_type', 'text', (column) => column.notNull())
    .addColumn('width', 'integer', (column) => column.notNull())
    .addColumn('height', 'integer', (column) => column.notNull())
    .addColumn('bytes', 'integer', (column) => column.notNull())
    .addColumn('perceptual_hash', 'text')
    .addColumn('face_box', 'text')
    .addColumn('face_descriptor', 'text')
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('photos_job_id_idx').on('photos').column('job_id').execute();

  await db.schema
    .createTable('runs')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('job_id', 'text', (column) => column.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (column) => column.notNull().references('users.id').onDelete('cascade'))
    .addColumn('pack_name', 'text', (column) => column.notNull())
    .addColumn('engine', 'text', (column) => column.notNull())
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('total_images', 'integer', (column) => column.notNull())
    .addColumn('completed_images', 'integer', (column) => column.notNull())
    .addColumn('failed_reason', 'text')
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .addColumn('notified_at', 'bigint')
    .addUniqueConstraint('runs_job_id_pack_name_key', ['job_id', 'pack_name'])
    .execute();
  await db.schema.createIndex('runs_user_id_idx').on('runs').column('user_id').execute();

  await db.schema
    .createTable('generation_tasks')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('run_id', 'text', (column) => column.notNull().references('runs.id').onDelete('cascade'))
    .addColumn('prompt_index', 'integer', (column) => column.notNull())
    .addColumn('prompt', 'text', (column) => column.notNull())
    .addColumn('negative_prompt', 'text')
    .addColumn('seed', 'bigint', (column) => column.notNull())
    .addColumn('image_count', 'integer', (column) => column.notNull())
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('attempts', 'integer', (column) => column.notNull())
    .addColumn('max_attempts', 'integer', (column) => column.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('available_at', 'bigint', (column) => column.notNull())
    .addColumn('last_error', 'text')
    .addColumn('provider_id', 'text')
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addUniqueConstraint('generation_tasks_run_id_prompt_index_key', ['run_id', 'prompt_index'])
    .execute();
  await db.schema
    .createIndex('generation_tasks_claim_idx')
    .on('generation_tasks')
    .columns(['status', 'available_at'])
    .execute();

  await db.schema
    .createTable('generated_images')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('run_id', 'text', (column) => column.notNull().references('runs.id').onDelete('cascade'))
    .addColumn('task_id', 'text', (column) => column.notNull().references('generation_tasks.id').onDelete('cascade'))
    .addColumn('prompt_index', 'integer', (column) => column.notNull())
    .addColumn('image_index', 'integer', (column) => column.notNull())
    .addColumn('storage_key', 'text', (column) => column.notNull())
    .addColumn('content_type', 'text', (column) => column.notNull())
    .addColumn('width', 'integer', (column) => column.notNull())
    .addColumn('height', 'integer', (column) => column.notNull())
    .addColumn('bytes', 'integer', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addUniqueConstraint('generated_images_run_prompt_image_key', ['run_id', 'prompt_index', 'image_index'])
    .execute();

  await db.schema
    .createTable('engine_preparations')
    .addColumn('job_id', 'text', (column) => column.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('engine', 'text', (column) => column.notNull())
    .addColumn('data', 'text', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addPrimaryKeyConstraint('engine_preparations_pkey', ['job_id', 'engine'])
    .execute();

  await db.schema
    .createTable('engine_calls')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('engine', 'text', (column) => column.notNull())
    .addColumn('provider_id', 'text', (column) => column.notNull())
    .addColumn('job_id', 'text', (column) => column.notNull())
    .addColumn('pack_name', 'text', (column) => column.notNull())
    .addColumn('prompt_index', 'integer', (column) => column.notNull())
    .addColumn('batch_index', 'integer', (column) => column.notNull())
    .addColumn('seed', 'bigint', (column) => column.notNull())
    .addColumn('image_count', 'integer', (column) => column.notNull())
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('provider_status', 'text')
    .addColumn('error', 'text')
    .addColumn('retryable', 'integer')
    .addColumn('output_keys', 'text')
    .addColumn('output_count', 'integer')
    .addColumn('predict_time_ms', 'integer')
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('completed_at', 'bigint')
    .addColumn('checked_at', 'bigint')
    .addColumn('webhook_received_at', 'bigint')
    .addColumn('deadline_at', 'bigint', (column) => column.notNull())
    .addUniqueConstraint('engine_calls_engine_provider_id_key', ['engine', 'provider_id'])
    .execute();
  await db.schema
    .createIndex('engine_calls_task_idx')
    .on('engine_calls')
    .columns(['engine', 'job_id', 'pack_name', 'prompt_index', 'batch_index'])
    .execute();
  await db.schema.createIndex('engine_calls_status_idx').on('engine_calls').columns(['status', 'updated_at']).execute();

  await db.schema
    .createTable('replicate_webhook_events')
    .addColumn('webhook_id', 'text', (column) => column.primaryKey())
    .addColumn('prediction_id', 'text', (column) => column.notNull())
    .addColumn('provider_status', 'text', (column) => column.notNull())
    .addColumn('received_at', 'bigint', (column) => column.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'replicate_webhook_events',
    'engine_calls',
    'engine_preparations',
    'generated_images',
    'generation_tasks',
    'runs',
    'photos',
    'jobs',
    'packs',
    'catalog_settings',
    'device_tokens',
    'users',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
