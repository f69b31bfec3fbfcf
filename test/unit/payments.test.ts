import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePaymentToken, parseReceiptDate } from '../../src/domain/payments/payment-token.js';
import { assertSubscriptionActive, isSubscriptionActive, type StoredSubscription } from '../../src/domain/payments/subscription.js';

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const HOUR = 3600 * 1000;

describe('parseReceiptDate', () => {
  it('parses the StoreKit receipt format as UTC', () => {
    assert.equal(parseReceiptDate('2024-12-16 14:59:45 Etc/GMT'), Date.UTC(2024, 11, 16, 14, 59, 45));
  });

  it('parses a leap day', () => {
    assert.equal(parseReceiptDate('2028-02-29 00:00:00 Etc/GMT'), Date.UTC(2028, 1, 29));
  });

  const rejected = [
    '2024-12-16T14:59:45Z',
    '2024-12-16 14:59:45',
    '2024-12-16 14:59:45 GMT',
    '2024-12-16 14:59:45 America/Los_Angeles',
    '2024-12-16 14:59:45 Etc/GMT ',
    ' 2024-12-16 14:59:45 Etc/GMT',
    '2024-12-16 14:59:45.000 Etc/GMT',
    '2024-12-16 4:59:45 Etc/GMT',
    '2025-02-29 10:00:00 Etc/GMT',
    '2024-13-01 10:00:00 Etc/GMT',
    '2024-12-16 24:00:00 Etc/GMT',
    '2024-12-16 14:60:00 Etc/GMT',
    '2024-12-16 14:59:60 Etc/GMT',
    '',
  ];
  for (const text of rejected) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseReceiptDate(text), undefined);
    });
  }
});

describe('parsePaymentToken', () => {
  it('returns the claimed purchase', () => {
    const claimed = parsePaymentToken({
      expires_date: '2024-12-16 14:59:45 Etc/GMT',
      expires_date_ms: '1734361185123',
      original_transaction_id: '2001000489270504',
      product_id: 'com.envision.weekly',
      transaction_id: '2001000489270505',
    });

    assert.deepEqual(claimed, {
      transactionId: '2001000489270505',
      originalTransactionId: '2001000489270504',
      productId: 'com.envision.weekly',
      expiresAt: 1734361185123,
    });
  });
});

describe('isSubscriptionActive', () => {
  const cases: Array<[name: string, subscription: StoredSubscription, active: boolean]> = [
    ['active before expiry', { subscription_status: 'active', expires_at: NOW + HOUR, grace_period_expires_at: null }, true],
    ['active after its stored expiry', { subscription_status: 'active', expires_at: NOW - HOUR, grace_period_expires_at: null }, false],
    ['active at the exact expiry', { subscription_status: 'active', expires_at: NOW, grace_period_expires_at: null }, false],
    ['active without expiry', { subscription_status: 'active', expires_at: null, grace_period_expires_at: null }, true],
    ['in a grace period', { subscription_status: 'grace_period', expires_at: NOW - HOUR, grace_period_expires_at: NOW + HOUR }, true],
    ['after the grace period', { subscription_status: 'grace_period', expires_at: NOW - 2 * HOUR, grace_period_expires_at: NOW - HOUR }, false],
    ['in billing retry', { subscription_status: 'billing_retry', expires_at: NOW + HOUR, grace_period_expires_at: null }, false],
    ['expired', { subscription_status: 'expired', expires_at: NOW + HOUR, grace_period_expires_at: null }, false],
    ['revoked', { subscription_status: 'revoked', expires_at: NOW + HOUR, grace_period_expires_at: null }, false],
    ['refunded', { subscription_status: 'refunded', expires_at: NOW + HOUR, grace_period_expires_at: null }, false],
    ['an unknown status', { subscription_status: 'paused', expires_at: NOW + HOUR, grace_period_expires_at: null }, false],
  ];
  for (const [name, subscription, active] of cases) {
    it(`is ${active} when ${name}`, () => {
      assert.equal(isSubscriptionActive(subscription, NOW), active);
    });
  }
});

describe('assertSubscriptionActive', () => {
  it('throws the 403 subscription_expired error for an expired subscription', () => {
    assert.throws(
      () => assertSubscriptionActive({ subscription_status: 'expired', expires_at: NOW - HOUR, grace_period_expires_at: null }, NOW),
      (error: { code?: string; statusCode?: number; message?: string }) =>
        error.code === 'subscription_expired' && error.statusCode === 403 && /verify-payment/.test(error.message ?? ''),
    );
  });

  it('passes an active subscription', () => {
    assertSubscriptionActive({ subscription_status: 'active', expires_at: NOW + HOUR, grace_period_expires_at: null }, NOW);
  });
});
