import type { SubscriptionRecord } from '../../domain/payments/subscription.js';

/** An App Store environment whose transactions Apple's servers know. */
export type AppStoreEnvironment = 'Production' | 'Sandbox';

/** A transaction as Apple reported it, after its signature was verified. */
export interface AppStoreTransaction {
  environment: AppStoreEnvironment;
  transactionId: string;
  originalTransactionId: string;
  productId: string;
  /** Epoch milliseconds; absent for purchases that do not expire. */
  expiresDate: number | undefined;
}

/**
 * Apple's App Store Server API. Failures are thrown as AppErrors: `transaction_not_found` (400) when
 * Apple does not know the transaction, `app_store_unavailable` (503, with Retry-After) for timeouts,
 * rate limits, 5xx responses and network errors, and `app_store_error` (502) for any other response the
 * server cannot use, such as signed data that fails verification.
 */
export interface AppStore {
  /** Looks the transaction up in Production, then in Sandbox when Production does not have it. */
  findTransaction(transactionId: string): Promise<AppStoreTransaction>;
  /** Reads the subscription's current state, which may come from a later renewal than the transaction. */
  getSubscription(environment: AppStoreEnvironment, originalTransactionId: string): Promise<SubscriptionRecord>;
}
