import type { Kysely } from 'kysely';
import type { SubscriptionRecord } from '../../../domain/payments/subscription.js';
import type { Database, Flag, UserRow } from '../schema.js';

/** Users, keyed by (environment, original transaction id), and the FCM tokens of their devices. */
export class UserRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Runs `work` in one database transaction, with a repository bound to it. */
  async inTransaction<T>(work: (users: UserRepository) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((transaction) => work(new UserRepository(transaction)));
  }

  async findUserById(userId: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
  }

  /**
   * Inserts a user for the subscription, or returns the one that already has its environment and original
   * transaction id. The unique constraint on those two columns settles concurrent calls: exactly one insert
   * wins and every other call reads the winner's row. `created` is false for an existing user, whose
   * stored subscription this call does not change (see `updateSubscription`).
   */
  async findOrCreateUserByOriginalTransaction(
    userId: string,
    subscription: SubscriptionRecord,
    now: number,
  ): Promise<{ user: UserRow; created: boolean }> {
    const inserted = await this.db
      .insertInto('users')
      .values({ id: userId, ...subscriptionColumns(subscription), created_at: now, updated_at: now })
      .onConflict((conflict) => conflict.columns(['environment', 'original_transaction_id']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted !== undefined) {
      return { user: inserted, created: true };
    }

    const existing = await this.db
      .selectFrom('users')
      .selectAll()
      .where('environment', '=', subscription.environment)
      .where('original_transaction_id', '=', subscription.originalTransactionId)
      .executeTakeFirstOrThrow();
    return { user: existing, created: false };
  }

  async updateSubscription(userId: string, subscription: SubscriptionRecord, now: number): Promise<UserRow> {
    return this.db
      .updateTable('users')
      .set({ ...subscriptionColumns(subscription), updated_at: now })
      .where('id', '=', userId)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /**
   * Stores a device's FCM token for the user. A token names one app install, so a token already stored
   * for another user moves to this one.
   */
  async saveDeviceToken(userId: string, token: string, verified: boolean, now: number): Promise<void> {
    await this.db
      .insertInto('device_tokens')
      .values({ token, user_id: userId, verified: verified ? 1 : 0, created_at: now, updated_at: now })
      .onConflict((conflict) =>
        conflict.column('token').doUpdateSet((update) => ({
          user_id: update.ref('excluded.user_id'),
          verified: update.ref('excluded.verified'),
          updated_at: update.ref('excluded.updated_at'),
        })),
      )
      .execute();
  }

  async listDeviceTokens(userId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('device_tokens')
      .select('token')
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .orderBy('token')
      .execute();
    return rows.map((row) => row.token);
  }

  /** Deletes tokens FCM reported as unregistered. */
  async deleteDeviceTokens(tokens: string[]): Promise<void> {
    if (tokens.length === 0) {
      return;
    }
    await this.db.deleteFrom('device_tokens').where('token', 'in', tokens).execute();
  }
}

function subscriptionColumns(subscription: SubscriptionRecord) {
  let autoRenew: Flag | null = null;
  if (subscription.autoRenew !== null) {
    autoRenew = subscription.autoRenew ? 1 : 0;
  }
  return {
    environment: subscription.environment,
    original_transaction_id: subscription.originalTransactionId,
    latest_transaction_id: subscription.latestTransactionId,
    product_id: subscription.productId,
    expires_at: subscription.expiresAt,
    grace_period_expires_at: subscription.gracePeriodExpiresAt,
    subscription_status: subscription.status,
    auto_renew: autoRenew,
    revoked_at: subscription.revokedAt,
    revocation_reason: subscription.revocationReason,
  };
}
