import type { Logger } from 'pino';
import type { PushMessage, PushNotifier, TokenCheck } from './push-notifier.js';

/**
 * The notifier used when Firebase is not configured: it logs each push instead of sending it, so a
 * development server shows what the app would receive.
 */
// TODO: drop in favour of the payments area's notifier once it lands with its own logging fallback.
export class LoggingPushNotifier implements PushNotifier {
  constructor(private readonly logger: Logger) {}

  async checkToken(): Promise<TokenCheck> {
    return 'unverified';
  }

  async send(tokens: string[], message: PushMessage): Promise<{ unregisteredTokens: string[] }> {
    this.logger.info({ devices: tokens.length, title: message.title, data: message.data }, 'push not sent (Firebase is not configured)');
    return { unregisteredTokens: [] };
  }
}
