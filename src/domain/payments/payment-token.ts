import type { AppStoreTransaction } from '../../adapters/app-store/app-store.js';
import { type ErrorDetail, appError } from '../errors.js';

/** The `payment_token` object the app sends, in the client contract's field names. */
export interface PaymentTokenInput {
  expires_date: string;
  expires_date_ms: string;
  original_transaction_id: string;
  product_id: string;
  transaction_id: string;
}

/** The purchase the app claims, with its expiry parsed. */
export interface ClaimedPurchase {
  transactionId: string;
  originalTransactionId: string;
  productId: string;
  /** Epoch milliseconds, from `expires_date_ms`. */
  expiresAt: number;
}

// The App Store receipt date format the app forwards, such as "2024-12-16 14:59:45 Etc/GMT". `Date.parse`
// does not accept the "Etc/GMT" zone name, and its handling of other forms varies, so it is parsed here.
const RECEIPT_DATE = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) Etc\/GMT$/;

/**
 * Parses a receipt date such as "2024-12-16 14:59:45 Etc/GMT" into epoch milliseconds. Returns undefined
 * for any other form, and for dates that do not exist, such as February 30 or 24:00:00.
 */
export function parseReceiptDate(text: string): number | undefined {
  const match = RECEIPT_DATE.exec(text);
  if (match === null) {
    return undefined;
  }
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const time = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(time);
  const roundTrips =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  return roundTrips ? time : undefined;
}

/**
 * Checks the values of a payment token that has all its fields (the request schema ensures that) and
 * returns the claimed purchase. `expires_date` has whole seconds, so it must equal `expires_date_ms`
 * rounded down to the second. Throws `invalid_payment_token` naming each bad field.
 */
export function parsePaymentToken(token: PaymentTokenInput): ClaimedPurchase {
  const problems: ErrorDetail[] = [];

  // App Store transaction ids are decimal numbers. Checking that also keeps them safe in the request
  // path of the App Store Server API, which the library builds without escaping.
  for (const field of ['transaction_id', 'original_transaction_id'] as const) {
    if (!/^\d{1,40}$/.test(token[field])) {
      problems.push({ field: `payment_token.${field}`, message: 'must be an App Store transaction id: digits only, such as "2001000489270504"' });
    }
  }
  if (token.product_id.trim() === '') {
    problems.push({ field: 'payment_token.product_id', message: 'must not be empty' });
  }

  const expiresAt = /^\d{1,15}$/.test(token.expires_date_ms) ? Number(token.expires_date_ms) : undefined;
  if (expiresAt === undefined) {
    problems.push({ field: 'payment_token.expires_date_ms', message: 'must be milliseconds since 1970 as a string of digits, such as "1702738785000"' });
  }
  const expiresDate = parseReceiptDate(token.expires_date);
  if (expiresDate === undefined) {
    problems.push({ field: 'payment_token.expires_date', message: 'must be a date such as "2024-12-16 14:59:45 Etc/GMT"' });
  }
  if (expiresAt !== undefined && expiresDate !== undefined && expiresDate !== Math.floor(expiresAt / 1000) * 1000) {
    problems.push({
      field: 'payment_token.expires_date',
      message: `is ${new Date(expiresDate).toISOString()} but expires_date_ms is ${new Date(expiresAt).toISOString()}; send the two values from the same transaction`,
    });
  }

  if (problems.length > 0 || expiresAt === undefined) {
    throw appError('invalid_payment_token', `Invalid payment_token: ${problems.map((problem) => `${problem.field} ${problem.message}`).join('; ')}.`, {
      details: problems,
    });
  }
  return {
    transactionId: token.transaction_id,
    originalTransactionId: token.original_transaction_id,
    productId: token.product_id,
    expiresAt,
  };
}

/** Throws `payment_token_mismatch`, naming each field, when the app's values differ from Apple's. */
export function assertMatchesAppStore(claimed: ClaimedPurchase, apple: AppStoreTransaction): void {
  const comparisons: Array<[field: string, claimed: string, apple: string | undefined]> = [
    ['transaction_id', claimed.transactionId, apple.transactionId],
    ['original_transaction_id', claimed.originalTransactionId, apple.originalTransactionId],
    ['product_id', claimed.productId, apple.productId],
    ['expires_date_ms', String(claimed.expiresAt), apple.expiresDate === undefined ? undefined : String(apple.expiresDate)],
  ];
  const mismatches: ErrorDetail[] = comparisons
    .filter(([, claimedValue, appleValue]) => claimedValue !== appleValue)
    .map(([field, claimedValue, appleValue]) => ({
      field: `payment_token.${field}`,
      message: `is "${claimedValue}" but the App Store has ${appleValue === undefined ? 'no value' : `"${appleValue}"`}`,
    }));
  if (mismatches.length > 0) {
    throw appError(
      'payment_token_mismatch',
      `The payment_token does not match the App Store's transaction: ${mismatches.map((mismatch) => mismatch.field).join(', ')}. Send the values StoreKit reported for this transaction.`,
      { details: mismatches },
    );
  }
}
