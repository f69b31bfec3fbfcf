import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/adapters/database/schema.js';
import type { TestContext } from './app.js';

export interface TestUser {
  id: string;
  token: string;
  authorization: { authorization: string };
}

/**
 * Inserts a user straight into the database and issues a session token for it, for tests of endpoints
 * that come after /verify-payment.
 */
export async function createTestUser(
  context: TestContext,
  options: { subscriptionStatus?: string; expiresAt?: number | null } = {},
): Promise<TestUser> {
  const id = await insertUser(context.container.database.db, context.container.clock.now(), options);
  const token = await context.container.tokens.issue(id);
  return { id, token, authorization: { authorization: `Bearer ${token}` } };
}

/** Inserts a Sandbox user with an active weekly subscription unless `options` say otherwise; returns its id. */
export async function insertUser(
  db: Kysely<Database>,
  now: number,
  options: { subscriptionStatus?: string; expiresAt?: number | null } = {},
): Promise<string> {
  const id = randomUUID();
  await db
    .insertInto('users')
    .values({
      id,
      environment: 'Sandbox',
      original_transaction_id: `test-${id}`,
      latest_transaction_id: `test-${id}`,
      product_id: 'com.envision.weekly',
      expires_at: options.expiresAt === undefined ? now + 7 * 24 * 3600 * 1000 : options.expiresAt,
      subscription_status: options.subscriptionStatus ?? 'active',
      auto_renew: 1,
      revoked_at: null,
      revocation_reason: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  return id;
}
