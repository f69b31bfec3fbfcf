/**
 * The error catalog. Every failure a client can see has a stable `code` here with its HTTP status fixed
 * next to it. Domain code throws `AppError`s made by `appError`; the HTTP error handler renders them as
 * `{ error: { code, message, requestId, details? } }`.
 */
export const ERROR_STATUS = {
  // Generic request problems.
  invalid_request: 400,
  invalid_json: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  not_found: 404,
  method_not_allowed: 405,
  rate_limited: 429,

  // Authentication.
  missing_token: 401,
  invalid_token: 401,

  // Packs.
  invalid_pack_catalog: 400,

  // POST /verify-payment and subscriptions.
  missing_payment_token: 400,
  invalid_payment_type: 400,
  missing_payment_token_field: 400,
  invalid_payment_token: 400,
  invalid_fcm_token: 400,
  payment_token_mismatch: 400,
  transaction_not_found: 400,
  debug_purchases_disabled: 403,
  subscription_expired: 403,
  app_store_error: 502,
  app_store_unavailable: 503,
  app_store_not_configured: 503,

  // Jobs, uploads and signed file links.
  job_not_found: 404,
  photo_not_found: 404,
  job_busy: 409,
  file_too_large: 413,
  image_too_large: 413,
  unsupported_image_format: 415,
  invalid_image: 422,
  photo_rejected: 422,
  too_many_photos: 409,
  invalid_file_link: 403,

  // Webhooks from generation providers.
  invalid_webhook_signature: 401,

  // Generation.
  pack_not_found: 404,
  pack_unavailable: 409,
  not_enough_photos: 409,
  no_images: 409,
  engine_unavailable: 503,

  // Anything the server did not anticipate. Its message never reaches the client.
  internal_error: 500,
  service_unavailable: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorDetail {
  field?: string;
  message: string;
  [key: string]: unknown;
}

export class AppError extends Error {
  readonly statusCode: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    /** Extra response headers, such as `Retry-After` or `WWW-Authenticate`. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'AppError';
    this.statusCode = ERROR_STATUS[code];
  }
}

export function appError(
  code: ErrorCode,
  message: string,
  options: { details?: ErrorDetail[]; headers?: Record<string, string>; cause?: unknown } = {},
): AppError {
  const error = new AppError(code, message, options.details, options.headers);
  if (options.cause !== undefined) {
    error.cause = options.cause;
  }
  return error;
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
