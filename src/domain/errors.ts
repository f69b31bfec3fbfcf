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
