import { randomUUID } from 'node:crypto';
import { type App, type Credential, deleteApp, initializeApp } from 'firebase-admin/app';
import { type Messaging, getMessaging } from 'firebase-admin/messaging';
import type { Logger } from 'pino';
import type { PushMessage, PushNotifier, TokenCheck } from './push-notifier.js';

export interface FirebasePushNotifierOptions {
  credential: Credential;
  /** The Firebase project; taken from the credential when it is a service account key. */
  projectId?: string;
  logger: Logger;
  /**
   * Maximum wait for a token check before the token counts as unverified. firebase-admin 13 retries a
   * 503 from FCM up to four times with backoff, which would otherwise hold up the payment request.
   */
  checkTimeoutMs?: number;
}

// firebase-admin error codes that mean FCM will never deliver to the token.
const DEAD_TOKEN_CODES = new Set(['messaging/registration-token-not-registered', 'messaging/invalid-registration-token']);

/** Firebase Cloud Messaging through firebase-admin, on a Firebase app of its own. */
export class FirebasePushNotifier implements PushNotifier {
  private readonly app: App;
  private readonly messaging: Messaging;
  private readonly logger: Logger;
  private readonly checkTimeoutMs: number;

  constructor(options: FirebasePushNotifierOptions) {
    // A unique app name, so several notifiers (one per test, say) never share firebase-admin's registry entry.
    this.app = initializeApp({ credential: options.credential, projectId: options.projectId }, `envision-${randomUUID()}`);
    this.messaging = getMessaging(this.app);
    this.logger = options.logger;
    this.checkTimeoutMs = options.checkTimeoutMs ?? 5000;
  }

  /**
   * Checks the token with a dry-run send, which FCM validates without delivering. A token FCM calls
   * malformed or unregistered is `invalid`; when FCM does not respond, the token is `unverified` and the
   * failure is logged.
   */
  async checkToken(token: string): Promise<TokenCheck> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.checkTimeoutMs);
    });
    try {
      const dryRun = this.messaging.send({ token }, true);
      // A dry run still going at the deadline finishes in the background; its outcome is not needed then.
      dryRun.catch(() => undefined);
      const outcome = await Promise.race([dryRun, deadline]);
      if (outcome === 'timeout') {
        this.logger.warn({ timeoutMs: this.checkTimeoutMs }, 'FCM token check timed out; storing the token as unverified');
        return 'unverified';
      }
      return 'valid';
    } catch (error) {
      const code = errorCode(error);
      if (DEAD_TOKEN_CODES.has(code) || code === 'messaging/invalid-argument') {
        // The dry-run message carries nothing but the token, so an invalid argument can only be the token.
        return 'invalid';
      }
      this.logger.warn({ err: error, code }, 'FCM token check failed; storing the token as unverified');
      return 'unverified';
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends one message per token. Tokens FCM calls unregistered or malformed are returned for removal. */
  async send(tokens: string[], message: PushMessage): Promise<{ unregisteredTokens: string[] }> {
    const outcomes = await Promise.all(
      tokens.map(async (token) => {
        try {
          await this.messaging.send({
            token,
            notification: { title: message.title, body: message.body },
            data: message.data,
          });
          return undefined;
        } catch (error) {
          const code = errorCode(error);
          if (DEAD_TOKEN_CODES.has(code)) {
            return token;
          }
          this.logger.error({ err: error, code }, 'push notification failed');
          return undefined;
        }
      }),
    );
    return { unregisteredTokens: outcomes.filter((token): token is string => token !== undefined) };
  }

  async close(): Promise<void> {
    await deleteApp(this.app);
  }
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}
