import { createHmac, timingSafeEqual } from 'node:crypto';

/** Deliveries whose timestamp is further than this from our clock are rejected, so old ones cannot be replayed. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

export class WebhookSignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookSignatureError';
  }
}

export interface SignedDelivery {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  body: Buffer;
}

/**
 * Checks a delivery signed in the Standard Webhooks format, which Replicate uses: `webhook-signature`
 * lists space-separated `v1,<base64>` entries, each an HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>`
 * keyed with the base64 part of the `whsec_` secret. One matching entry is enough, so secrets can rotate.
 * Throws a WebhookSignatureError saying what is wrong; the message never contains the secret.
 *
 * The replicate client's own `validateWebhook` (1.4.0) does not check the timestamp and compares
 * signatures with `===`, so this check is written here.
 */
export function verifyWebhookSignature(delivery: SignedDelivery, secret: string, nowMs: number): void {
  if (!delivery.id || !delivery.timestamp || !delivery.signature) {
    throw new WebhookSignatureError('the webhook-id, webhook-timestamp and webhook-signature headers are required');
  }
  if (!/^\d{1,12}$/.test(delivery.timestamp)) {
    throw new WebhookSignatureError('webhook-timestamp must be whole seconds since the Unix epoch');
  }
  const ageSeconds = Math.abs(nowMs / 1000 - Number(delivery.timestamp));
  if (ageSeconds > WEBHOOK_TOLERANCE_SECONDS) {
    throw new WebhookSignatureError(`webhook-timestamp is ${Math.round(ageSeconds)} s away from the server's clock`);
  }

  const expected = signWebhook(delivery.id, delivery.timestamp, delivery.body, secret);
  const matches = delivery.signature
    .split(' ')
    .filter((entry) => entry.startsWith('v1,'))
    .some((entry) => {
      const candidate = Buffer.from(entry.slice(3), 'base64');
      return candidate.length === expected.length && timingSafeEqual(candidate, expected);
    });
  if (!matches) {
    throw new WebhookSignatureError('no webhook-signature entry matches the body');
  }
}

/** Computes the raw HMAC-SHA256 signature of a delivery, which `v1` entries carry in base64. */
export function signWebhook(id: string, timestamp: string, body: Buffer | string, secret: string): Buffer {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
}
