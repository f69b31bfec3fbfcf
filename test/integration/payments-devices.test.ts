import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import nock from 'nock';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { blockNetworkExceptLoopback, fcmError, interceptSend, stubbedFirebaseNotifier } from '../helpers/fcm.js';
import { countStoredRows, paymentBody, postVerifyPayment, userIdOf } from '../helpers/payments.js';

const DAY = 24 * 3600 * 1000;
const VALID_NAME = { name: 'projects/envision-tests/messages/fake' };

/** Builds a debug purchase, so these cases need no App Store. Each original transaction id is a user. */
function debugPurchase(originalTransactionId: string, fcmToken?: string) {
  return paymentBody(
    { transactionId: originalTransactionId, originalTransactionId, expiresDate: Date.now() + DAY },
    { debuggingMode: true, ...(fcmToken === undefined ? {} : { fcm_token: fcmToken }) },
  );
}

let restoreNetwork: () => void;
before(() => {
  restoreNetwork = blockNetworkExceptLoopback();
});
after(() => restoreNetwork());

for (const kind of DATABASE_KINDS) {
  describe(`POST /verify-payment device tokens with Firebase on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;
    const notifier = stubbedFirebaseNotifier();

    before(async () => {
      context = await createTestContext(kind, { overrides: () => ({ pushNotifier: notifier }) });
    });
    after(async () => {
      await context?.close();
      await notifier.close();
    });
    afterEach(() => {
      assert.deepEqual(nock.pendingMocks(), [], 'every intercepted FCM request was made');
      nock.cleanAll();
    });

    async function storedToken(token: string) {
      return context.container.database.db.selectFrom('device_tokens').selectAll().where('token', '=', token).executeTakeFirst();
    }

    it('stores a token FCM accepts as verified', async () => {
      interceptSend('device-valid', 200, VALID_NAME);

      const response = await postVerifyPayment(context, debugPurchase('1', 'device-valid'));

      assert.equal(response.statusCode, 200, response.body);
      const token = await storedToken('device-valid');
      assert.equal(token?.user_id, userIdOf(response.json().jwt_token));
      assert.equal(token?.verified, 1);
    });

    it('rejects an unregistered token and stores nothing', async () => {
      interceptSend('device-unregistered', 404, fcmError(404, 'NOT_FOUND', 'UNREGISTERED', 'Requested entity was not found.'));
      const stored = await countStoredRows(context);

      const response = await postVerifyPayment(context, debugPurchase('2', 'device-unregistered'));

      assert.equal(response.statusCode, 400);
      assert.equal(response.json().error.code, 'invalid_fcm_token');
      assert.deepEqual(await countStoredRows(context), stored);
    });

    it('rejects a token FCM calls invalid', async () => {
      interceptSend('device-invalid', 400, fcmError(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token'));

      const response = await postVerifyPayment(context, debugPurchase('3', 'device-invalid'));

      assert.equal(response.statusCode, 400);
      assert.equal(response.json().error.code, 'invalid_fcm_token');
    });

    it('accepts the payment and stores the token unverified during an FCM outage', async () => {
      interceptSend('device-outage', 500, fcmError(500, 'INTERNAL', 'INTERNAL', 'Internal error encountered.'));

      const response = await postVerifyPayment(context, debugPurchase('4', 'device-outage'));

      assert.equal(response.statusCode, 200, response.body);
      assert.equal((await storedToken('device-outage'))?.verified, 0);
    });

    it('keeps several devices for one user', async () => {
      interceptSend('device-phone', 200, VALID_NAME);
      interceptSend('device-tablet', 200, VALID_NAME);

      const phone = await postVerifyPayment(context, debugPurchase('5', 'device-phone'));
      const tablet = await postVerifyPayment(context, debugPurchase('5', 'device-tablet'));

      const userId = userIdOf(tablet.json().jwt_token);
      assert.equal(userIdOf(phone.json().jwt_token), userId);
      assert.deepEqual(await context.container.users.listDeviceTokens(userId), ['device-phone', 'device-tablet']);
    });

    it('moves a token to the user who sent it last', async () => {
      interceptSend('device-shared', 200, VALID_NAME);
      interceptSend('device-shared', 200, VALID_NAME);

      const first = await postVerifyPayment(context, debugPurchase('6', 'device-shared'));
      const second = await postVerifyPayment(context, debugPurchase('7', 'device-shared'));

      assert.deepEqual(await context.container.users.listDeviceTokens(userIdOf(first.json().jwt_token)), []);
      assert.deepEqual(await context.container.users.listDeviceTokens(userIdOf(second.json().jwt_token)), ['device-shared']);
    });

    it('deletes tokens reported as unregistered', async () => {
      interceptSend('device-to-delete', 200, VALID_NAME);
      const response = await postVerifyPayment(context, debugPurchase('8', 'device-to-delete'));

      await context.container.users.deleteDeviceTokens(['device-to-delete']);

      assert.deepEqual(await context.container.users.listDeviceTokens(userIdOf(response.json().jwt_token)), []);
    });
  });

  describe(`POST /verify-payment device tokens without Firebase on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;

    before(async () => {
      context = await createTestContext(kind);
    });
    after(async () => context?.close());

    it('stores the token unverified without asking FCM', async () => {
      const response = await postVerifyPayment(context, debugPurchase('1', 'device-unchecked'));

      assert.equal(response.statusCode, 200, response.body);
      const token = await context.container.database.db
        .selectFrom('device_tokens')
        .selectAll()
        .where('token', '=', 'device-unchecked')
        .executeTakeFirstOrThrow();
      assert.equal(token.verified, 0);
    });
  });
}
