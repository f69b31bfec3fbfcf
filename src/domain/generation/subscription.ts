/**
 * Whether a subscription lets its user start a pack: Apple's `active` until `expires_at`, and the
 * billing grace period, during which Apple keeps the subscriber's access while it retries the payment.
 * `billing_retry` without a grace period, `expired`, `revoked` and `refunded` do not.
 */
// TODO: replace with the payments area's subscription check once it lands, so both use one rule.
export function isSubscriptionActive(subscription: { status: string; expiresAt: number | null }, now: number): boolean {
  if (subscription.status === 'grace_period') {
    return true;
  }
  return subscription.status === 'active' && (subscription.expiresAt === null || subscription.expiresAt > now);
}
