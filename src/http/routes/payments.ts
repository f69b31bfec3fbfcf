import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifySchemaValidationError } from 'fastify/types/schema.js';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { type AppError, type ErrorCode, type ErrorDetail, appError } from '../../domain/errors.js';
import { SUBSCRIPTION_EXPIRED } from '../../domain/payments/subscription.js';
import { errorResponses } from '../schemas/common.js';

const PAYMENT_TOKEN_FIELDS = ['expires_date', 'expires_date_ms', 'original_transaction_id', 'product_id', 'transaction_id'] as const;

const PaymentToken = Type.Object(
  {
    expires_date: Type.String({ maxLength: 64, description: 'Expiry as StoreKit reports it.', examples: ['2024-12-16 14:59:45 Etc/GMT'] }),
    expires_date_ms: Type.String({ maxLength: 32, description: 'The same expiry in milliseconds since 1970, as a string.', examples: ['1734361185000'] }),
    original_transaction_id: Type.String({ maxLength: 64, examples: ['2001000489270504'] }),
    product_id: Type.String({ maxLength: 255, examples: ['com.envision.weekly'] }),
    transaction_id: Type.String({ maxLength: 64, examples: ['2001000489270504'] }),
  },
  { description: 'The StoreKit transaction to check with the App Store.' },
);

const VerifyPaymentBody = Type.Object({
  payment_type: Type.Literal('apple', { description: 'Must be "apple"; the only store supported.' }),
  payment_token: PaymentToken,
  fcm_token: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 4096,
      pattern: '^[\\x21-\\x7E]+$',
      description: 'Firebase Cloud Messaging registration token of this device, for notifications when images are ready.',
    }),
  ),
  debuggingMode: Type.Optional(
    Type.Boolean({ description: 'True for StoreKit testing purchases in Xcode; accepted only where the server allows debug purchases.' }),
  ),
});

const VerifyPaymentResponse = Type.Object({
  jwt_token: Type.String({ description: 'Session token (HS256 JWT, seven days) for the Authorization: Bearer header.' }),
  userExists: Type.Boolean({ description: 'True when a user already had this original transaction.' }),
  subscriptionStatus: Type.Optional(
    Type.Literal(SUBSCRIPTION_EXPIRED, { description: 'Present only when the subscription is no longer active.' }),
  ),
});

export const paymentRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (app, { container }) => {
  app.post(
    '/verify-payment',
    {
      // Validation failures reach the handler, which gives each case of the client contract its own code.
      attachValidation: true,
      schema: {
        tags: ['payments'],
        summary: 'Check an App Store purchase and sign the user in',
        description:
          'Checks the transaction with Apple (Production, then Sandbox), finds or creates the user by original transaction id, stores the device token and returns a session token.',
        body: VerifyPaymentBody,
        response: { 200: VerifyPaymentResponse, ...errorResponses(400, 403, 413, 415, 502, 503) },
      },
    },
    async (request) => {
      if (request.validationError !== undefined) {
        throw verifyPaymentRequestError(request.validationError.validation);
      }
      const body = request.body;
      const result = await container.payments.verifyPayment({
        paymentToken: body.payment_token,
        fcmToken: body.fcm_token,
        debuggingMode: body.debuggingMode ?? false,
      });
      return {
        jwt_token: result.jwtToken,
        userExists: result.userExists,
        ...(result.subscriptionActive ? {} : { subscriptionStatus: SUBSCRIPTION_EXPIRED }),
      };
    },
  );
};

interface ClassifiedIssue {
  code: ErrorCode;
  detail: ErrorDetail;
}

// When a body has several problems, the error code is that of the first kind in this order, which follows
// the client contract's list of 400 cases. Every problem is listed in the details.
const CODE_PRIORITY: ErrorCode[] = [
  'invalid_request',
  'missing_payment_token',
  'invalid_payment_type',
  'missing_payment_token_field',
  'invalid_payment_token',
  'invalid_fcm_token',
];

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  invalid_request: 'The body must be a JSON object with payment_type, payment_token and optionally fcm_token and debuggingMode.',
  missing_payment_token: 'payment_token is missing: send the StoreKit transaction as an object.',
  invalid_payment_type: 'payment_type must be "apple".',
  missing_payment_token_field: `payment_token must have all of ${PAYMENT_TOKEN_FIELDS.join(', ')}.`,
  invalid_payment_token: 'payment_token must be an object of strings.',
  invalid_fcm_token: 'fcm_token must be 1 to 4096 printable ASCII characters without spaces, or left out.',
};

/** Turns schema validation problems into the error of the client contract's matching 400 case. */
function verifyPaymentRequestError(issues: FastifySchemaValidationError[]): AppError {
  const classified = issues.map(classifyIssue);
  const code = CODE_PRIORITY.find((candidate) => classified.some((issue) => issue.code === candidate)) ?? 'invalid_request';
  const details = classified.map((issue) => issue.detail);
  const missing = classified.filter((issue) => issue.code === code && code === 'missing_payment_token_field');
  const message =
    missing.length > 0 ? `payment_token is missing ${missing.map((issue) => issue.detail.field).join(', ')}. ${MESSAGES[code]}` : MESSAGES[code];
  return appError(code, message ?? 'Invalid request body.', { details });
}

function classifyIssue(issue: FastifySchemaValidationError): ClassifiedIssue {
  const path = issue.instancePath.split('/').filter((segment) => segment !== '');
  const missingProperty = typeof issue.params.missingProperty === 'string' ? issue.params.missingProperty : undefined;
  const field = [...path, ...(missingProperty === undefined ? [] : [missingProperty])].join('.');
  const detail = { field: field === '' ? 'body' : field, message: issue.message ?? 'is invalid' };

  const [top] = field.split('.');
  if (field === 'payment_token' && missingProperty !== undefined) {
    return { code: 'missing_payment_token', detail };
  }
  if (top === 'payment_type') {
    return { code: 'invalid_payment_type', detail };
  }
  if (top === 'payment_token') {
    return { code: missingProperty === undefined ? 'invalid_payment_token' : 'missing_payment_token_field', detail };
  }
  if (top === 'fcm_token') {
    return { code: 'invalid_fcm_token', detail };
  }
  return { code: 'invalid_request', detail };
}
