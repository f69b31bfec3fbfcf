import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { countStoredRows, paymentBody, postVerifyPayment } from '../helpers/payments.js';

const DAY = 24 * 3600 * 1000;

/** Builds a good debug purchase body, so every case below differs from an accepted request in one way only. */
function goodBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return paymentBody({ transactionId: '0', originalTransactionId: '0', expiresDate: Date.now() + DAY }, { debuggingMode: true, ...extra });
}

function without(body: Record<string, unknown>, field: string): Record<string, unknown> {
  const copy = structuredClone(body);
  delete copy[field];
  return copy;
}

function withTokenField(field: string, value: unknown): Record<string, unknown> {
  const body = goodBody();
  const token = body.payment_token as Record<string, unknown>;
  if (value === undefined) {
    delete token[field];
  } else {
    token[field] = value;
  }
  return body;
}

for (const kind of DATABASE_KINDS) {
  describe(`POST /verify-payment input checks on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;

    before(async () => {
      context = await createTestContext(kind);
    });
    after(async () => context?.close());

    /** Sends the body, checks the status and error code, and that nothing was stored. */
    async function expectRejected(body: unknown, statusCode: number, code: string) {
      const stored = await countStoredRows(context);
      const response = await postVerifyPayment(context, body);

      assert.equal(response.statusCode, statusCode, response.body);
      assert.equal(response.json().error.code, code);
      assert.equal(response.json().error.requestId, response.headers['x-request-id']);
      assert.deepEqual(await countStoredRows(context), stored);
      return response.json().error;
    }

    it('accepts the good body these cases start from', async () => {
      const response = await postVerifyPayment(context, goodBody({ fcm_token: 'dvJampKbh4lrPIEVOgx6e5:APA91bGlE_OGroJdpW6' }));

      assert.equal(response.statusCode, 200, response.body);
      assert.equal((await countStoredRows(context)).deviceTokens, 1);
    });

    it('rejects a missing payment_token', async () => {
      const error = await expectRejected(without(goodBody(), 'payment_token'), 400, 'missing_payment_token');

      assert.match(error.message, /payment_token is missing/);
    });

    it('rejects a missing payment_type in an otherwise good body', async () => {
      const error = await expectRejected(without(goodBody(), 'payment_type'), 400, 'invalid_payment_type');

      assert.deepEqual(error.details.map((detail: { field: string }) => detail.field), ['payment_type']);
    });

    it('rejects a payment_type other than apple', async () => {
      await expectRejected(goodBody({ payment_type: 'google' }), 400, 'invalid_payment_type');
      await expectRejected(goodBody({ payment_type: 'Apple' }), 400, 'invalid_payment_type');
    });

    for (const field of ['expires_date', 'expires_date_ms', 'original_transaction_id', 'product_id', 'transaction_id']) {
      it(`rejects a payment_token without ${field}`, async () => {
        const error = await expectRejected(withTokenField(field, undefined), 400, 'missing_payment_token_field');

        assert.deepEqual(error.details.map((detail: { field: string }) => detail.field), [`payment_token.${field}`]);
        assert.match(error.message, new RegExp(`payment_token is missing payment_token.${field}`));
      });
    }

    it('names every missing payment_token field at once', async () => {
      const error = await expectRejected(goodBody({ payment_token: {} }), 400, 'missing_payment_token_field');

      assert.equal(error.details.length, 5);
    });

    const invalidFcmTokens: Array<[name: string, value: unknown]> = [
      ['an empty string', ''],
      ['whitespace', '   '],
      ['an inner space', 'abc def'],
      ['a control character', 'abc\u0000def'],
      ['a newline', 'abc\ndef'],
      ['non-ASCII text', 'tökén'],
      ['more than 4 KB', 'a'.repeat(4097)],
      ['a number', 12345],
      ['null', null],
    ];
    for (const [name, value] of invalidFcmTokens) {
      it(`rejects an fcm_token that is ${name}`, async () => {
        await expectRejected(goodBody({ fcm_token: value }), 400, 'invalid_fcm_token');
      });
    }

    it('accepts an fcm_token of exactly 4096 characters', async () => {
      const response = await postVerifyPayment(context, goodBody({ fcm_token: 'b'.repeat(4096) }));

      assert.equal(response.statusCode, 200, response.body);
    });

    const invalidTokenValues: Array<[name: string, field: string, value: unknown]> = [
      ['expires_date_ms as a number', 'expires_date_ms', 1702738785000],
      ['transaction_id as a number', 'transaction_id', 2001000489270504],
      ['product_id as an object', 'product_id', { id: 'com.envision.weekly' }],
      ['expires_date in ISO form', 'expires_date', '2024-12-16T14:59:45Z'],
      ['expires_date without its zone', 'expires_date', '2024-12-16 14:59:45'],
      ['expires_date on a day that does not exist', 'expires_date', '2024-02-30 14:59:45 Etc/GMT'],
      ['expires_date_ms with letters', 'expires_date_ms', '17027387850OO'],
      ['a transaction_id with a path', 'transaction_id', '../../v1/notifications'],
      ['an empty original_transaction_id', 'original_transaction_id', ''],
      ['an empty product_id', 'product_id', ''],
    ];
    for (const [name, field, value] of invalidTokenValues) {
      it(`rejects ${name}`, async () => {
        const error = await expectRejected(withTokenField(field, value), 400, 'invalid_payment_token');

        assert.ok(
          error.details.some((detail: { field: string }) => detail.field === `payment_token.${field}`),
          JSON.stringify(error.details),
        );
      });
    }

    it('rejects an expires_date that disagrees with expires_date_ms', async () => {
      // The client contract's own example pairs "2024-12-16 14:59:45 Etc/GMT" with 1702738785000, which is
      // 2023-12-16 14:59:45 UTC: a year apart.
      const body = withTokenField('expires_date', '2024-12-16 14:59:45 Etc/GMT');
      (body.payment_token as Record<string, string>).expires_date_ms = '1702738785000';

      const error = await expectRejected(body, 400, 'invalid_payment_token');

      assert.match(error.message, /expires_date_ms is 2023-12-16T14:59:45.000Z/);
    });

    it('accepts an expires_date_ms with milliseconds inside the second of expires_date', async () => {
      const body = withTokenField('expires_date', '2030-01-02 03:04:05 Etc/GMT');
      (body.payment_token as Record<string, string>).expires_date_ms = String(Date.UTC(2030, 0, 2, 3, 4, 5, 999));

      const response = await postVerifyPayment(context, body);

      assert.equal(response.statusCode, 200, response.body);
    });

    it('rejects a payment_token that is not an object', async () => {
      await expectRejected(goodBody({ payment_token: 'eyJhbGciOi' }), 400, 'invalid_payment_token');
    });

    it('rejects a debuggingMode that is not a boolean', async () => {
      await expectRejected(goodBody({ debuggingMode: 'true' }), 400, 'invalid_request');
    });

    it('rejects a body that is a JSON array', async () => {
      await expectRejected([goodBody()], 400, 'invalid_request');
    });

    const rawBodies: Array<[name: string, contentType: string, payload: string, statusCode: number, code: string]> = [
      ['malformed JSON', 'application/json', '{"payment_type": "apple",', 400, 'invalid_json'],
      ['an empty JSON body', 'application/json', '', 400, 'invalid_json'],
      ['a form body', 'application/x-www-form-urlencoded', 'payment_type=apple', 415, 'unsupported_media_type'],
      ['an XML body', 'application/xml', '<payment_type>apple</payment_type>', 415, 'unsupported_media_type'],
      // Fastify parses text/plain by default, so the JSON text arrives as a string and fails the schema.
      ['a text body', 'text/plain', JSON.stringify(goodBody()), 400, 'invalid_request'],
      ['a __proto__ key', 'application/json', JSON.stringify(goodBody()).replace('{', '{"__proto__": {"polluted": true},'), 400, 'invalid_json'],
      [
        'a constructor.prototype key',
        'application/json',
        JSON.stringify(goodBody()).replace('{', '{"constructor": {"prototype": {"polluted": true}},'),
        400,
        'invalid_json',
      ],
      ['a body over 64 KiB', 'application/json', JSON.stringify(goodBody({ padding: 'x'.repeat(70 * 1024) })), 413, 'payload_too_large'],
    ];
    for (const [name, contentType, payload, statusCode, code] of rawBodies) {
      it(`rejects ${name}`, async () => {
        const stored = await countStoredRows(context);

        const response = await context.app.inject({
          method: 'POST',
          url: '/verify-payment',
          headers: { 'content-type': contentType },
          payload,
        });

        assert.equal(response.statusCode, statusCode, response.body);
        assert.equal(response.json().error.code, code);
        assert.deepEqual(await countStoredRows(context), stored);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
      });
    }

    it('documents the request and responses in OpenAPI', async () => {
      const document = (await context.app.inject({ method: 'GET', url: '/openapi.json' })).json();
      const operation = document.paths['/verify-payment'].post;
      const schema = operation.requestBody.content['application/json'].schema;

      assert.deepEqual(schema.required, ['payment_type', 'payment_token']);
      assert.deepEqual(schema.properties.payment_token.required, ['expires_date', 'expires_date_ms', 'original_transaction_id', 'product_id', 'transaction_id']);
      assert.ok(operation.responses['200']);
      assert.ok(operation.responses['503']);
    });

    it('keeps serving after the rejected bodies', async () => {
      const response = await context.app.inject({ method: 'GET', url: '/healthz' });

      assert.equal(response.statusCode, 200);
    });
  });
}
