import { randomUUID } from 'node:crypto';
import type { AppStore } from '../../adapters/app-store/app-store.js';
import type { UserRepository } from '../../adapters/database/repositories/user-repository.js';
import type { PushNotifier, TokenCheck } from '../../adapters/push/push-notifier.js';
import type { TokenService } from '../auth/token-service.js';
import type { Clock } from '../clock.js';
import { appError } from '../errors.js';
import { type ClaimedPurchase, type PaymentTokenInput, assertMatchesAppStore, parsePaymentToken } from './payment-token.js';
import { type SubscriptionRecord, isSubscriptionActive } from './subscription.js';

export interface VerifyPaymentInput {
  paymentToken: PaymentTokenInput;
  /** An FCM registration token whose form the request schema already checked. */
  fcmToken: string | undefined;
  debuggingMode: boolean;
}

export interface VerifyPaymentResult {
  jwtToken: string;
  userExists: boolean;
  subscriptionActive: boolean;
}

export interface PaymentServiceDependencies {
  /** Undefined when the server has no App Store credentials; then only debug purchases work. */
  appStore: AppStore | undefined;
  pushNotifier: PushNotifier;
  users: UserRepository;
  tokens: TokenService;
  clock: Clock;
  allowDebugPurchases: boolean;
}

/**
 * The rules of POST /verify-payment: check the purchase with Apple (or accept a StoreKit testing
 * purchase where the configuration allows), check the device token with FCM, find or create the user
 * and issue a session token.
 */
export class PaymentService {
  constructor(private readonly dependencies: PaymentServiceDependencies) {}

  async verifyPayment(input: VerifyPaymentInput): Promise<VerifyPaymentResult> {
    const { users, tokens, clock } = this.dependencies;
    const claimed = parsePaymentToken(input.paymentToken);
    if (input.debuggingMode && !this.dependencies.allowDebugPurchases) {
      throw appError('debug_purchases_disabled', 'This server does not accept debug purchases (debuggingMode: true). Buy through the App Store or TestFlight sandbox and send debuggingMode: false.', {
        details: [{ field: 'debuggingMode', message: 'debug purchases are disabled on this server' }],
      });
    }

    const [subscription, tokenCheck] = await Promise.all([
      input.debuggingMode ? this.debugSubscription(claimed) : this.appStoreSubscription(claimed),
      input.fcmToken === undefined ? undefined : this.dependencies.pushNotifier.checkToken(input.fcmToken),
    ]);
    if (tokenCheck === 'invalid') {
      throw appError('invalid_fcm_token', 'Firebase Cloud Messaging rejected fcm_token as invalid or no longer registered. Send the current token from Messaging.messaging().fcmToken, or leave fcm_token out.', {
        details: [{ field: 'fcm_token', message: 'rejected by Firebase Cloud Messaging' }],
      });
    }

    const now = clock.now();
    const { user, created } = await users.inTransaction(async (transaction) => {
      const found = await transaction.findOrCreateUserByOriginalTransaction(randomUUID(), subscription, now);
      const current = found.created ? found.user : await transaction.updateSubscription(found.user.id, subscription, now);
      if (input.fcmToken !== undefined) {
        await transaction.saveDeviceToken(current.id, input.fcmToken, isVerified(tokenCheck), now);
      }
      return { user: current, created: found.created };
    });

    return {
      jwtToken: await tokens.issue(user.id),
      userExists: !created,
      subscriptionActive: isSubscriptionActive(user, now),
    };
  }

  /**
   * Apple's word on the purchase: the transaction must exist and match what the app sent, and the
   * subscription's status comes from Apple's latest state, which may be a later renewal.
   */
  private async appStoreSubscription(claimed: ClaimedPurchase): Promise<SubscriptionRecord> {
    const { appStore } = this.dependencies;
    if (appStore === undefined) {
      throw appError('app_store_not_configured', 'This server has no App Store credentials, so it cannot check real purchases. Set the APPLE_* variables, or send debuggingMode: true where debug purchases are allowed.');
    }
    const transaction = await appStore.findTransaction(claimed.transactionId);
    assertMatchesAppStore(claimed, transaction);
    return appStore.getSubscription(transaction.environment, transaction.originalTransactionId);
  }

  /**
   * Builds the subscription of a StoreKit testing purchase from Xcode, which Apple's servers never saw. The
   * app's values are taken as they are, under the `Debug` environment, so such users never share a record
   * with real purchases.
   */
  private async debugSubscription(claimed: ClaimedPurchase): Promise<SubscriptionRecord> {
    const active = claimed.expiresAt > this.dependencies.clock.now();
    return {
      environment: 'Debug',
      originalTransactionId: claimed.originalTransactionId,
      latestTransactionId: claimed.transactionId,
      productId: claimed.productId,
      expiresAt: claimed.expiresAt,
      gracePeriodExpiresAt: null,
      status: active ? 'active' : 'expired',
      autoRenew: null,
      revokedAt: null,
      revocationReason: null,
    };
  }
}

function isVerified(check: TokenCheck | undefined): boolean {
  return check === 'valid';
}
