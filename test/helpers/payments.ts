import type { TestContext } from './app.js';

/** Formats epoch milliseconds the way StoreKit receipts do: "2024-12-16 14:59:45 Etc/GMT". */
export function receiptDate(milliseconds: number): string {
  return `${new Date(milliseconds).toISOString().slice(0, 19).replace('T', ' ')} Etc/GMT`;
}

export interface PaymentTokenValues {
  transactionId: string;
  originalTransactionId: string;
  productId?: string;
  expiresDate: number;
}

/** Builds a /verify-payment body in the client contract's shape. */
export function paymentBody(values: PaymentTokenValues, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    payment_type: 'apple',
    payment_token: {
      expires_date: receiptDate(values.expiresDate),
      expires_date_ms: String(values.expiresDate),
      original_transaction_id: values.originalTransactionId,
      product_id: values.productId ?? 'com.envision.weekly',
      transaction_id: values.transactionId,
    },
    ...extra,
  };
}

export function postVerifyPayment(context: TestContext, body: unknown) {
  return context.app.inject({ method: 'POST', url: '/verify-payment', payload: body as Record<string, unknown> });
}

/** Counts rows in the tables /verify-payment writes, to prove a rejected request stored nothing. */
export async function countStoredRows(context: TestContext): Promise<{ users: number; deviceTokens: number }> {
  const { db } = context.container.database;
  const users = await db.selectFrom('users').select((expression) => expression.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
  const deviceTokens = await db
    .selectFrom('device_tokens')
    .select((expression) => expression.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  return { users: Number(users.count), deviceTokens: Number(deviceTokens.count) };
}

/** Returns the `user_id` claim of a session token without checking it; tests check tokens separately. */
export function userIdOf(jwt: string): string {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).user_id;
}
