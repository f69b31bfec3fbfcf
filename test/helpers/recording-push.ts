import type { PushMessage, PushNotifier, TokenCheck } from '../../src/adapters/push/push-notifier.js';

/** A PushNotifier that records what it was asked to send and reports chosen tokens unregistered. */
export class RecordingPushNotifier implements PushNotifier {
  readonly sent: Array<{ tokens: string[]; message: PushMessage }> = [];
  readonly unregistered = new Set<string>();
  /** When set, `send` throws this instead of recording. */
  failWith: Error | undefined;

  async checkToken(): Promise<TokenCheck> {
    return 'valid';
  }

  async send(tokens: string[], message: PushMessage): Promise<{ unregisteredTokens: string[] }> {
    if (this.failWith !== undefined) {
      throw this.failWith;
    }
    this.sent.push({ tokens, message });
    return { unregisteredTokens: tokens.filter((token) => this.unregistered.has(token)) };
  }

  sentFor(jobId: string, packName: string): Array<{ tokens: string[]; message: PushMessage }> {
    return this.sent.filter((push) => push.message.data.jobId === jobId && push.message.data.pack_name === packName);
  }
}
