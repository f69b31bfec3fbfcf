import type { Logger } from 'pino';
import type { PushMessage, PushNotifier, TokenCheck } from './push-notifier.js';

/**
 * The notifier for servers without Firebase credentials (GOOGLE_APPLICATION_CREDENTIALS unset): it sends
 * nothing, logs each message, and reports every token as unverified.
 */
export class LoggingPushNotifier implements PushNotifier {
  constructor(private readonly logger: Logger) {}

  async checkToken(): Promise<TokenCheck> {
    return 'unverified';
  }

  async send(tokens: string[], message: PushMessage): Promise<{ unregisteredTokens: string[] }> {
    this.logger.info(
      { devices: tokens.length, title: message.title, data: message.data },
      'push notification not sent: Firebase is not configured',
    );
    return { unregisteredTokens: [] };
  }
}
