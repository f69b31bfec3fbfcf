import type { UserRow } from '../../adapters/database/schema.js';
import { type AppError, appError } from '../errors.js';

/**
 * The store environment of a purchase. `Debug` is StoreKit testing in Xcode: Apple's servers never saw those
 * transactions, so such users are stored apart from real ones.
 */
export type PurchaseEnvironment = 'Production' | 'Sandbox' | 'Debug';

/**
 * A subscription's state as stored per user. Apple's statuses map as: 1 active, 2 expired, 3 billing
 * retry, 4 billing grace period; 5 (revoked) is `refunded` when Apple gives a refund reason, else `revoked`.
 */
export type SubscriptionStatus = 'active' | 'grace_period' | 'billing_retry' | 'expired' | 'revoked' | 'refunded';

/** The subscription fields stored in the `users` table. Times are epoch milliseconds. */
export interface SubscriptionRecord {
  environment: PurchaseEnvironment;
  originalTransactionId: string;
  latestTransactionId: string;
  productId: string;
  expiresAt: number | null;
  gracePeriodExpiresAt: number | null;
  status: SubscriptionStatus;
  autoRenew: boolean | null;
  revokedAt: number | null;
  revocationReason: number | null;
}

/** The `subscriptionStatus` value and error code the client contract uses for a lapsed subscription. */
export const SUBSCRIPTION_EXPIRED = 'subscription_expired' as const;

export const SUBSCRIPTION_EXPIRED_MESSAGE =
  'The subscription has expired. Renew it in the App Store, then call /verify-payment again with the new transaction.';

export type StoredSubscription = Pick<UserRow, 'subscription_status' | 'expires_at' | 'grace_period_expires_at'>;

/**
 * Tells whether a stored user's subscription gives access at `now` (epoch ms). Active counts until its
 * expiry and a billing grace period until the grace period ends; billing retry, expired, revoked and
 * refunded never count. The stored state is as fresh as the user's last /verify-payment call, so a renewed
 * subscription whose stored expiry has passed reads as expired until the app verifies again.
 */
export function isSubscriptionActive(user: StoredSubscription, now: number): boolean {
  switch (user.subscription_status) {
    case 'active':
      return user.expires_at === null || user.expires_at > now;
    case 'grace_period': {
      const end = user.grace_period_expires_at ?? user.expires_at;
      return end === null || end > now;
    }
    default:
      return false;
  }
}

/** Creates the 403 `subscription_expired` error for endpoints that need an active subscription. */
export function subscriptionExpiredError(): AppError {
  return appError(SUBSCRIPTION_EXPIRED, SUBSCRIPTION_EXPIRED_MESSAGE);
}

/** Throws the 403 `subscription_expired` error unless the user's subscription is active at `now`. */
export function assertSubscriptionActive(user: StoredSubscription, now: number): void {
  if (!isSubscriptionActive(user, now)) {
    throw subscriptionExpiredError();
  }
}
