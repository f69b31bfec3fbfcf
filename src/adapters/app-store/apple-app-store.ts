import { readFileSync } from 'node:fs';
import {
  APIError,
  APIException,
  AutoRenewStatus,
  Environment,
  type JWSTransactionDecodedPayload,
  type LastTransactionsItem,
  SignedDataVerifier,
  Status,
  VerificationException,
  VerificationStatus,
} from '@apple/app-store-server-library';
import type { Logger } from 'pino';
import { type AppError, appError } from '../../domain/errors.js';
import type { SubscriptionRecord, SubscriptionStatus } from '../../domain/payments/subscription.js';
import { AppStoreApiClient, AppStoreConnectionError } from './api-client.js';
import type { AppStore, AppStoreEnvironment, AppStoreTransaction } from './app-store.js';

/** Apple Root CA G3, the root of the certificate chain in every JWS the App Store signs. */
export function appleRootCertificate(): Buffer {
  // The same relative path works from src/ (tsx) and from dist/ (the build) because both are one level
  // below the package root. tsc does not copy the certificate into dist/.
  return readFileSync(new URL('../../../src/adapters/app-store/AppleRootCA-G3.cer', import.meta.url));
}

export interface AppleAppStoreOptions {
  bundleId: string;
  appAppleId: number;
  issuerId: string;
  keyId: string;
  /** PEM of the App Store Connect API key (ES256). */
  privateKey: string;
  timeoutMs: number;
  /** DER root certificates that signed data must chain to. */
  rootCertificates: Buffer[];
  /**
   * Whether the verifier checks revocation through OCSP and certificate dates against the current time.
   * NOTE: the library sends those OCSP requests itself, with its own 30 s timeout rather than `timeoutMs`,
   * and no test runs that path because it needs Apple's OCSP responder.
   */
  onlineChecks: boolean;
  /** Replacements for Apple's hosts, for a fake App Store in tests and benchmarks. */
  apiUrls: { production: string | undefined; sandbox: string | undefined };
  logger: Logger;
}

/** Seconds a client should wait before retrying after an App Store outage. */
const RETRY_AFTER_SECONDS = 30;

interface EnvironmentAccess {
  client: AppStoreApiClient;
  verifier: SignedDataVerifier;
}

/**
 * The App Store Server API through Apple's official library, with one client and one SignedDataVerifier
 * per environment. Only Production and Sandbox are used: the Xcode and LocalTesting environments skip
 * signature checks.
 */
export class AppleAppStore implements AppStore {
  private readonly environments: Record<AppStoreEnvironment, EnvironmentAccess>;
  private readonly logger: Logger;

  constructor(options: AppleAppStoreOptions) {
    const access = (environment: AppStoreEnvironment, baseUrl: string | undefined): EnvironmentAccess => ({
      client: new AppStoreApiClient({
        signingKey: options.privateKey,
        keyId: options.keyId,
        issuerId: options.issuerId,
        bundleId: options.bundleId,
        environment,
        baseUrl,
        timeoutMs: options.timeoutMs,
      }),
      verifier: new SignedDataVerifier(
        options.rootCertificates,
        options.onlineChecks,
        environment === 'Production' ? Environment.PRODUCTION : Environment.SANDBOX,
        options.bundleId,
        environment === 'Production' ? options.appAppleId : undefined,
      ),
    });
    this.environments = {
      Production: access('Production', options.apiUrls.production),
      Sandbox: access('Sandbox', options.apiUrls.sandbox),
    };
    this.logger = options.logger;
  }

  /**
   * Tries Production first. Apple returns 4040010 (transaction id not found) there for sandbox purchases,
   * and 401 for every request before the app's first release, so both send the lookup on to Sandbox.
   */
  async findTransaction(transactionId: string): Promise<AppStoreTransaction> {
    try {
      return await this.lookUpTransaction('Production', transactionId);
    } catch (error) {
      if (!(error instanceof APIException) || !belongsInSandbox(error)) {
        throw this.toAppError(error, 'Production');
      }
      this.logger.debug(
        { transactionId, httpStatus: error.httpStatusCode, apiError: error.apiError },
        'transaction not in Production; trying Sandbox',
      );
    }
    try {
      return await this.lookUpTransaction('Sandbox', transactionId);
    } catch (error) {
      throw this.toAppError(error, 'Sandbox');
    }
  }

  async getSubscription(environment: AppStoreEnvironment, originalTransactionId: string): Promise<SubscriptionRecord> {
    try {
      return await this.readSubscription(environment, originalTransactionId);
    } catch (error) {
      throw this.toAppError(error, environment);
    }
  }

  private async lookUpTransaction(environment: AppStoreEnvironment, transactionId: string): Promise<AppStoreTransaction> {
    const { client, verifier } = this.environments[environment];
    const response = await client.getTransactionInfo(transactionId);
    if (response.signedTransactionInfo === undefined) {
      throw new UnusableResponseError(`Apple's response for transaction ${transactionId} has no signedTransactionInfo`);
    }
    const transaction = await verifier.verifyAndDecodeTransaction(response.signedTransactionInfo);
    return {
      environment,
      transactionId: requireField(transaction.transactionId, 'transactionId'),
      originalTransactionId: requireField(transaction.originalTransactionId, 'originalTransactionId'),
      productId: requireField(transaction.productId, 'productId'),
      expiresDate: transaction.expiresDate,
    };
  }

  private async readSubscription(
    environment: AppStoreEnvironment,
    originalTransactionId: string,
  ): Promise<SubscriptionRecord> {
    const { client, verifier } = this.environments[environment];
    const response = await client.getAllSubscriptionStatuses(originalTransactionId);
    const item = (response.data ?? [])
      .flatMap((group) => group.lastTransactions ?? [])
      .find((candidate) => candidate.originalTransactionId === originalTransactionId);
    if (item?.signedTransactionInfo === undefined) {
      throw new UnusableResponseError(`Apple returned no subscription status for original transaction ${originalTransactionId}`);
    }

    const latest = await verifier.verifyAndDecodeTransaction(item.signedTransactionInfo);
    const renewal = item.signedRenewalInfo === undefined ? undefined : await verifier.verifyAndDecodeRenewalInfo(item.signedRenewalInfo);
    if (latest.originalTransactionId !== originalTransactionId) {
      throw new UnusableResponseError(`Apple's latest transaction belongs to ${latest.originalTransactionId}, not ${originalTransactionId}`);
    }

    return {
      environment,
      originalTransactionId,
      latestTransactionId: requireField(latest.transactionId, 'transactionId'),
      productId: requireField(latest.productId, 'productId'),
      expiresAt: latest.expiresDate ?? null,
      gracePeriodExpiresAt: renewal?.gracePeriodExpiresDate ?? null,
      status: subscriptionStatus(item, latest),
      autoRenew: renewal?.autoRenewStatus === undefined ? null : renewal.autoRenewStatus === AutoRenewStatus.ON,
      revokedAt: latest.revocationDate ?? null,
      revocationReason: latest.revocationReason ?? null,
    };
  }

  /** Sorts a failure into the three outcomes the AppStore interface promises, logging the server-side ones. */
  private toAppError(error: unknown, environment: AppStoreEnvironment): AppError {
    if (error instanceof APIException) {
      if (isNotFound(error)) {
        return appError('transaction_not_found', 'The App Store has no such transaction in Production or Sandbox. Check payment_token.transaction_id.', {
          details: [{ field: 'payment_token.transaction_id', message: 'not found in the App Store' }],
        });
      }
      if (error.httpStatusCode === 429 || error.httpStatusCode >= 500) {
        return this.unavailable(error, environment);
      }
      this.logger.error({ err: error, environment, httpStatus: error.httpStatusCode, apiError: error.apiError }, 'App Store rejected the request');
      return appError('app_store_error', 'The App Store rejected the server\'s request. Try again later; if it keeps failing, report the request id.', { cause: error });
    }
    if (error instanceof AppStoreConnectionError) {
      return this.unavailable(error, environment);
    }
    if (error instanceof VerificationException && error.status === VerificationStatus.RETRYABLE_VERIFICATION_FAILURE) {
      return this.unavailable(error, environment);
    }
    if (error instanceof VerificationException) {
      this.logger.error({ err: error, environment, verificationStatus: error.status }, 'App Store signed data failed verification');
      return appError('app_store_error', 'The App Store\'s response could not be verified, so the purchase was not accepted. Report the request id.', { cause: error });
    }
    this.logger.error({ err: error, environment }, 'App Store response could not be used');
    return appError('app_store_error', 'The App Store\'s response could not be used. Try again later; if it keeps failing, report the request id.', { cause: error });
  }

  private unavailable(error: unknown, environment: AppStoreEnvironment): AppError {
    this.logger.warn({ err: error, environment }, 'App Store unavailable');
    return appError('app_store_unavailable', `The App Store could not be reached to check the purchase. Retry in ${RETRY_AFTER_SECONDS} seconds.`, {
      headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) },
      cause: error,
    });
  }
}

/** A response from Apple that parsed but lacks what the server needs. */
class UnusableResponseError extends Error {
  override name = 'UnusableResponseError';
}

function belongsInSandbox(error: APIException): boolean {
  return error.apiError === APIError.TRANSACTION_ID_NOT_FOUND || error.httpStatusCode === 401;
}

function isNotFound(error: APIException): boolean {
  return (
    error.apiError === APIError.TRANSACTION_ID_NOT_FOUND ||
    error.apiError === APIError.ORIGINAL_TRANSACTION_ID_NOT_FOUND ||
    error.apiError === APIError.INVALID_TRANSACTION_ID
  );
}

function requireField(value: string | undefined, name: string): string {
  if (value === undefined || value === '') {
    throw new UnusableResponseError(`Apple's signed transaction has no ${name}`);
  }
  return value;
}

function subscriptionStatus(item: LastTransactionsItem, latest: JWSTransactionDecodedPayload): SubscriptionStatus {
  switch (item.status) {
    case Status.ACTIVE:
      return 'active';
    case Status.BILLING_GRACE_PERIOD:
      return 'grace_period';
    case Status.BILLING_RETRY:
      return 'billing_retry';
    case Status.EXPIRED:
      return 'expired';
    case Status.REVOKED:
      // Both documented revocation reasons (0: other, 1: an issue in the app) are refunds by Apple Support.
      return latest.revocationReason === undefined ? 'revoked' : 'refunded';
    default:
      throw new UnusableResponseError(`Apple reported subscription status ${String(item.status)}, which this server does not know`);
  }
}
