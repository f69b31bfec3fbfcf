/**
 * Returns a /verify-payment body for a StoreKit testing purchase that expires at `expiresAt`. The server
 * accepts it without Apple while ALLOW_DEBUG_PURCHASES is true. Its transaction ids are 0, as Xcode's
 * are, so every caller signs in as the same debug user.
 */
export function debugPurchaseBody(expiresAt: Date): Record<string, unknown> {
  return {
    payment_type: 'apple',
    debuggingMode: true,
    payment_token: {
      expires_date: `${expiresAt.toISOString().slice(0, 19).replace('T', ' ')} Etc/GMT`,
      expires_date_ms: String(expiresAt.getTime()),
      original_transaction_id: '0',
      product_id: 'com.envision.weekly',
      transaction_id: '0',
    },
  };
}
