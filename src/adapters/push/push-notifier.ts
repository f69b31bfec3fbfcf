/** Outcome of checking a device's FCM registration token. */
export type TokenCheck =
  /** FCM accepted a dry-run send to the token. */
  | 'valid'
  /** FCM rejected the token as malformed or no longer registered. */
  | 'invalid'
  /** The token could not be checked (no Firebase credentials, or FCM did not respond). */
  | 'unverified';

export interface PushMessage {
  title: string;
  body: string;
  /** FCM data payload: string values only. */
  data: Record<string, string>;
}

/** Sends push notifications to the app through Firebase Cloud Messaging, or logs them when not configured. */
export interface PushNotifier {
  checkToken(token: string): Promise<TokenCheck>;
  /** Sends to every token; returns the tokens FCM reported as unregistered, which the caller removes. */
  send(tokens: string[], message: PushMessage): Promise<{ unregisteredTokens: string[] }>;
}
