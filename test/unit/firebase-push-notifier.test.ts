import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import nock from 'nock';
import type { FirebasePushNotifier } from '../../src/adapters/push/firebase-push-notifier.js';
import {
  FCM_ORIGIN,
  FCM_SEND_PATH,
  type FcmSendBody,
  blockNetworkExceptLoopback,
  fcmError,
  interceptSend,
  stubbedFirebaseNotifier,
} from '../helpers/fcm.js';

const UNREGISTERED = fcmError(404, 'NOT_FOUND', 'UNREGISTERED', 'Requested entity was not found.');
const INVALID = fcmError(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token');

describe('FirebasePushNotifier', () => {
  let restoreNetwork: () => void;
  let notifier: FirebasePushNotifier;

  before(() => {
    restoreNetwork = blockNetworkExceptLoopback();
    notifier = stubbedFirebaseNotifier();
  });
  after(async () => {
    await notifier.close();
    restoreNetwork();
  });
  afterEach(() => {
    assert.deepEqual(nock.pendingMocks(), [], 'every intercepted FCM request was made');
    nock.cleanAll();
  });

  describe('checkToken', () => {
    it('reports a token FCM accepts as valid, through a dry run', async () => {
      const sent: FcmSendBody[] = [];
      interceptSend('good-token', 200, { name: 'projects/envision-tests/messages/fake_message_id' }, sent);

      assert.equal(await notifier.checkToken('good-token'), 'valid');
      assert.equal(sent[0]?.validate_only, true);
      assert.deepEqual(sent[0]?.message, { token: 'good-token' });
    });

    it('reports an unregistered token as invalid', async () => {
      interceptSend('old-token', 404, UNREGISTERED);

      assert.equal(await notifier.checkToken('old-token'), 'invalid');
    });

    it('reports a malformed token as invalid', async () => {
      interceptSend('junk-token', 400, INVALID);

      assert.equal(await notifier.checkToken('junk-token'), 'invalid');
    });

    it('reports the token as unverified when FCM fails', async () => {
      interceptSend('some-token', 500, fcmError(500, 'INTERNAL', 'INTERNAL', 'Internal error encountered.'));

      assert.equal(await notifier.checkToken('some-token'), 'unverified');
    });

    it('reports the token as unverified when FCM cannot be reached', async () => {
      nock(FCM_ORIGIN)
        .post(FCM_SEND_PATH)
        .replyWithError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));

      assert.equal(await notifier.checkToken('some-token'), 'unverified');
    });

    it('reports a late FCM response as unverified', async () => {
      const impatient = stubbedFirebaseNotifier({ checkTimeoutMs: 100 });
      // FCM responds long after the notifier's 100 ms limit.
      nock(FCM_ORIGIN).post(FCM_SEND_PATH).delay(3000).reply(200, { name: 'projects/envision-tests/messages/late' });

      try {
        assert.equal(await impatient.checkToken('slow-token'), 'unverified');
      } finally {
        await impatient.close();
      }
    });
  });

  describe('send', () => {
    it('sends to every token and returns the unregistered ones', async () => {
      const sent: FcmSendBody[] = [];
      interceptSend('phone', 200, { name: 'projects/envision-tests/messages/1' }, sent);
      interceptSend('old-tablet', 404, UNREGISTERED, sent);
      interceptSend('broken', 500, fcmError(500, 'INTERNAL', 'INTERNAL', 'Internal error encountered.'), sent);

      const result = await notifier.send(['phone', 'old-tablet', 'broken'], {
        title: 'Your portraits are ready',
        body: 'Neonpunk: 40 images',
        data: { runId: 'run-1' },
      });

      assert.deepEqual(result, { unregisteredTokens: ['old-tablet'] });
      assert.equal(sent.length, 3);
      const phone = sent.find((body) => body.message.token === 'phone');
      assert.equal(phone?.validate_only, undefined);
      assert.deepEqual(phone?.message.notification, { title: 'Your portraits are ready', body: 'Neonpunk: 40 images' });
      assert.deepEqual(phone?.message.data, { runId: 'run-1' });
    });
  });
});
