import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { createTestCertificateChain } from '../helpers/apple-certificates.js';
import { AppleStatus, FakeAppStore, type FakeSubscription } from '../helpers/fake-app-store.js';
import { countStoredRows, paymentBody, postVerifyPayment, userIdOf } from '../helpers/payments.js';

const DAY = 24 * 3600 * 1000;

let fake: FakeAppStore;
let sequence = 0;
const untrustedChain = createTestCertificateChain();

/** Adds a subscription with fresh transaction ids to the fake, so cases never share a user. */
function subscription(overrides: Partial<FakeSubscription> & { expiresDate?: number } = {}): FakeSubscription {
  sequence += 1;
  const originalTransactionId = `20000000${String(sequence).padStart(8, '0')}`;
  const { expiresDate = Date.now() + 7 * DAY, ...rest } = overrides;
  return fake.addSubscription({
    environment: 'Production',
    originalTransactionId,
    transactions: [{ transactionId: originalTransactionId, expiresDate }],
    status: AppleStatus.active,
    ...rest,
  });
}

/** Builds the request body for the subscription's latest transaction, as the app would send it. */
function bodyFor(subscriptionToSend: FakeSubscription, extra: Record<string, unknown> = {}) {
  const latest = subscriptionToSend.transactions.at(-1)!;
  return paymentBody(
    {
      transactionId: latest.transactionId,
      originalTransactionId: subscriptionToSend.originalTransactionId,
      productId: latest.productId,
      expiresDate: latest.expiresDate!,
    },
    extra,
  );
}

before(async () => {
  fake = await new FakeAppStore().start();
});
after(async () => fake?.close());

for (const kind of DATABASE_KINDS) {
  describe(`POST /verify-payment with the App Store on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;

    before(async () => {
      context = await createTestContext(kind, { env: fake.environment({ APPLE_TIMEOUT_MS: '1500' }) });
    });
    after(async () => context?.close());
    beforeEach(() => fake.reset());

    async function storedUser(userId: string) {
      return context.container.database.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
    }

    it('creates a user for a new production purchase', async () => {
      const purchase = subscription();

      const response = await postVerifyPayment(context, bodyFor(purchase));
      const body = response.json();

      assert.equal(response.statusCode, 200, response.body);
      assert.equal(body.userExists, false);
      assert.equal(body.subscriptionStatus, undefined);
      const userId = await context.container.tokens.verify(body.jwt_token);
      const user = await storedUser(userId);
      assert.equal(user.environment, 'Production');
      assert.equal(user.original_transaction_id, purchase.originalTransactionId);
      assert.equal(user.latest_transaction_id, purchase.originalTransactionId);
      assert.equal(user.subscription_status, 'active');
      assert.equal(user.expires_at, purchase.transactions[0]!.expiresDate);
      assert.equal(user.auto_renew, 1);
      assert.deepEqual(
        fake.requests.map((request) => `${request.environment} ${request.path.split('/')[3]}`),
        ['Production transactions', 'Production subscriptions'],
      );
    });

    it('finds the existing user and updates the stored subscription', async () => {
      const purchase = subscription();
      const first = await postVerifyPayment(context, bodyFor(purchase));
      const renewalExpiry = Date.now() + 14 * DAY;
      purchase.transactions.push({ transactionId: `${purchase.originalTransactionId}9`, expiresDate: renewalExpiry });
      purchase.autoRenew = false;

      const second = await postVerifyPayment(context, bodyFor(purchase));

      assert.equal(second.statusCode, 200, second.body);
      assert.equal(second.json().userExists, true);
      assert.equal(userIdOf(second.json().jwt_token), userIdOf(first.json().jwt_token));
      const user = await storedUser(userIdOf(second.json().jwt_token));
      assert.equal(user.latest_transaction_id, `${purchase.originalTransactionId}9`);
      assert.equal(user.expires_at, renewalExpiry);
      assert.equal(user.auto_renew, 0);
    });

    it('takes the status from the latest renewal, not the sent transaction', async () => {
      const purchase = subscription({ expiresDate: Date.now() - 3 * DAY });
      const renewalExpiry = Date.now() + 4 * DAY;
      purchase.transactions.push({ transactionId: `${purchase.originalTransactionId}7`, expiresDate: renewalExpiry });
      const original = { ...purchase, transactions: [purchase.transactions[0]!] };

      const response = await postVerifyPayment(context, bodyFor(original));

      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().subscriptionStatus, undefined);
      const user = await storedUser(userIdOf(response.json().jwt_token));
      assert.equal(user.expires_at, renewalExpiry);
      assert.equal(user.latest_transaction_id, `${purchase.originalTransactionId}7`);
    });

    it('reports an expired subscription', async () => {
      const purchase = subscription({ expiresDate: Date.now() - DAY, status: AppleStatus.expired, autoRenew: false });

      const response = await postVerifyPayment(context, bodyFor(purchase));

      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().subscriptionStatus, 'subscription_expired');
      assert.equal(response.json().userExists, false);
      const user = await storedUser(userIdOf(response.json().jwt_token));
      assert.equal(user.subscription_status, 'expired');
    });

    it('reports a refunded subscription as expired', async () => {
      const revokedAt = Date.now() - 1000;
      const purchase = subscription({ status: AppleStatus.revoked });
      Object.assign(purchase.transactions[0]!, { revocationDate: revokedAt, revocationReason: 0 });

      const response = await postVerifyPayment(context, bodyFor(purchase));

      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().subscriptionStatus, 'subscription_expired');
      const user = await storedUser(userIdOf(response.json().jwt_token));
      assert.equal(user.subscription_status, 'refunded');
      assert.equal(user.revoked_at, revokedAt);
      assert.equal(user.revocation_reason, 0);
    });

    it('reports a revoked subscription as expired', async () => {
      const purchase = subscription({ status: AppleStatus.revoked });
      Object.assign(purchase.transactions[0]!, { revocationDate: Date.now() - 1000 });

      const response = await postVerifyPayment(context, bodyFor(purchase));

      assert.equal(response.json().subscriptionStatus, 'subscription_expired');
      const user = await storedUser(userIdOf(response.json().jwt_token));
      assert.equal(user.subscription_status, 'revoked');
    });

    it('counts a billing grace period as active', async () => {
      const gracePeriodEnd = Date.now() + 3 * DAY;
      const purchase = subscription({
        expiresDate: Date.now() - DAY,
        status: AppleStatus.gracePeriod,
        gracePeriodExpiresDate: gracePeriodEnd,
      });

      const response = await postVerifyPayment(context, bodyFor(purchase));

      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().subscriptionStatus, undefined);
      const user = await storedUser(userIdOf(response.json().jwt_token));
      assert.equal(user.subscription_status, 'grace_period');
      assert.equal(user.grace_period_expires_at, gracePeriodEnd);
    });

    it('does not count billing retry as active', async () => {
      const purchase = subscription({ expiresDate: Date.now() - DAY, status: AppleStatus.billingRetry });

      const response = await postVerifyPayment(context, bodyFor(purchase));

      assert.equal(response.json().subscriptionStatus, 'subscription_expired');
    });

    it('falls back to Sandbox when Production has no such transaction', async () => {
      const purchase = subscription({ environment: 'Sandbox' });

      const response = await postVerifyPayment(context, bodyFor(purchase));

      assert.equal(response.statusCode, 200, response.body);
      const user = await storedUser(userIdOf(response.json().jwt_token));
      assert.equal(user.environment, 'Sandbox');
      assert.deepEqual(
        fake.requests.map((request) => `${request.environment} ${request.path.split('/')[3]}`),
        ['Production transactions', 'Sandbox transactions', 'Sandbox subscriptions'],
      );
    });

    it('falls back to Sandbox when Production answers 401', async () => {
      fake.behaviour.Production = 'unauthorized';
      const purchase = subscription({ environment: 'Sandbox' });

      const response = await postVerifyPayment(context, bodyFor(purchase));

      assert.equal(response.statusCode, 200, response.body);
      assert.equal((await storedUser(userIdOf(response.json().jwt_token))).environment, 'Sandbox');
    });

    it('keeps Sandbox and Production users apart', async () => {
      const production = subscription();
      const sandbox = fake.addSubscription({ ...production, environment: 'Sandbox', transactions: [{ ...production.transactions[0]! }] });
      const first = await postVerifyPayment(context, bodyFor(production));
      fake.behaviour.Production = 'unauthorized';

      const second = await postVerifyPayment(context, bodyFor(sandbox));

      assert.equal(second.statusCode, 200, second.body);
      assert.equal(second.json().userExists, false);
      assert.notEqual(userIdOf(second.json().jwt_token), userIdOf(first.json().jwt_token));
    });

    it('rejects a transaction neither environment knows', async () => {
      const stored = await countStoredRows(context);
      const response = await postVerifyPayment(
        context,
        paymentBody({ transactionId: '1999999999999999', originalTransactionId: '1999999999999999', expiresDate: Date.now() + DAY }),
      );

      assert.equal(response.statusCode, 400);
      assert.equal(response.json().error.code, 'transaction_not_found');
      assert.deepEqual(await countStoredRows(context), stored);
    });

    const unverifiable: Array<[name: string, prepare: (purchase: FakeSubscription) => void]> = [
      ['signed data with a forged signature', () => (fake.forgeryKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)],
      ['signed data from a chain with another root', () => (fake.untrustedChain = untrustedChain)],
      ['a transaction signed for another bundle id', (purchase) => (purchase.transactions[0]!.bundleId = 'com.example.other')],
    ];
    for (const [name, prepare] of unverifiable) {
      it(`rejects ${name}`, async () => {
        const purchase = subscription();
        prepare(purchase);
        const stored = await countStoredRows(context);

        const response = await postVerifyPayment(context, bodyFor(purchase));

        assert.equal(response.statusCode, 502);
        assert.equal(response.json().error.code, 'app_store_error');
        assert.match(response.json().error.message, /could not be verified/);
        assert.deepEqual(await countStoredRows(context), stored);
      });
    }

    const mismatches: Array<[field: string, change: (token: Record<string, string>) => void, prepare?: (purchase: FakeSubscription) => void]> = [
      ['transaction_id', () => undefined, (purchase) => (purchase.transactions[0]!.signedTransactionId = '2999999999999999')],
      ['original_transaction_id', (token) => (token.original_transaction_id = '2999999999999998')],
      ['product_id', (token) => (token.product_id = 'com.envision.yearly')],
      [
        'expires_date_ms',
        (token) => {
          const later = Number(token.expires_date_ms) + 3600 * 1000;
          token.expires_date_ms = String(later);
          token.expires_date = `${new Date(later).toISOString().slice(0, 19).replace('T', ' ')} Etc/GMT`;
        },
      ],
    ];
    for (const [field, change, prepare] of mismatches) {
      it(`rejects a ${field} that differs from Apple's`, async () => {
        const purchase = subscription();
        prepare?.(purchase);
        const body = bodyFor(purchase) as { payment_token: Record<string, string> };
        change(body.payment_token);

        const stored = await countStoredRows(context);
        const response = await postVerifyPayment(context, body);

        assert.equal(response.statusCode, 400, response.body);
        assert.equal(response.json().error.code, 'payment_token_mismatch');
        assert.deepEqual(
          response.json().error.details.map((detail: { field: string }) => detail.field),
          [`payment_token.${field}`],
        );
        assert.deepEqual(await countStoredRows(context), stored);
      });
    }

    const outages: Array<[name: string, behaviour: 'hang' | 'rate-limited' | 'server-error' | 'reset']> = [
      ['a timeout', 'hang'],
      ['a 429', 'rate-limited'],
      ['a 500', 'server-error'],
      ['a dropped connection', 'reset'],
    ];
    for (const [name, behaviour] of outages) {
      it(`answers 503 with Retry-After for ${name}`, async () => {
        const purchase = subscription();
        fake.behaviour.Production = behaviour;

        const stored = await countStoredRows(context);
        const response = await postVerifyPayment(context, bodyFor(purchase));

        assert.equal(response.statusCode, 503, response.body);
        assert.equal(response.json().error.code, 'app_store_unavailable');
        assert.equal(response.headers['retry-after'], '30');
        assert.deepEqual(await countStoredRows(context), stored);
      });
    }

    it('answers 503 when Sandbox times out after Production', async () => {
      const purchase = subscription({ environment: 'Sandbox' });
      fake.behaviour.Sandbox = 'hang';

      const response = await postVerifyPayment(context, bodyFor(purchase));

      assert.equal(response.statusCode, 503);
      assert.equal(response.json().error.code, 'app_store_unavailable');
    });

    it('creates exactly one user for concurrent identical requests', async () => {
      const purchase = subscription();
      const stored = await countStoredRows(context);

      const responses = await Promise.all(Array.from({ length: 6 }, () => postVerifyPayment(context, bodyFor(purchase))));

      assert.deepEqual(responses.map((response) => response.statusCode), [200, 200, 200, 200, 200, 200]);
      assert.equal(responses.filter((response) => response.json().userExists === false).length, 1);
      assert.equal(new Set(responses.map((response) => userIdOf(response.json().jwt_token))).size, 1);
      assert.equal((await countStoredRows(context)).users, stored.users + 1);
    });

    it('accepts a debug purchase without asking Apple and keeps it apart', async () => {
      const purchase = subscription();
      const real = await postVerifyPayment(context, bodyFor(purchase));
      fake.reset();

      const debug = await postVerifyPayment(context, bodyFor(purchase, { debuggingMode: true }));

      assert.equal(debug.statusCode, 200, debug.body);
      assert.equal(debug.json().userExists, false);
      assert.notEqual(userIdOf(debug.json().jwt_token), userIdOf(real.json().jwt_token));
      assert.equal((await storedUser(userIdOf(debug.json().jwt_token))).environment, 'Debug');
      assert.deepEqual(fake.requests, []);
    });

    it('reports an expired debug purchase', async () => {
      const response = await postVerifyPayment(
        context,
        paymentBody({ transactionId: '0', originalTransactionId: '0', expiresDate: Date.now() - DAY }, { debuggingMode: true }),
      );

      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().subscriptionStatus, 'subscription_expired');
    });
  });

  describe(`POST /verify-payment without App Store credentials on ${kind.name}`, { skip: kind.skip }, () => {
    let context: TestContext;

    before(async () => {
      context = await createTestContext(kind, { env: { ALLOW_DEBUG_PURCHASES: 'false' } });
    });
    after(async () => context?.close());
    afterEach(() => fake.reset());

    it('answers 503 app_store_not_configured for a real purchase', async () => {
      const response = await postVerifyPayment(
        context,
        paymentBody({ transactionId: '2000000000000001', originalTransactionId: '2000000000000001', expiresDate: Date.now() + DAY }),
      );

      assert.equal(response.statusCode, 503);
      assert.equal(response.json().error.code, 'app_store_not_configured');
    });

    it('rejects debug purchases when they are not allowed', async () => {
      const stored = await countStoredRows(context);
      const response = await postVerifyPayment(
        context,
        paymentBody({ transactionId: '0', originalTransactionId: '0', expiresDate: Date.now() + DAY }, { debuggingMode: true }),
      );

      assert.equal(response.statusCode, 403);
      assert.equal(response.json().error.code, 'debug_purchases_disabled');
      assert.deepEqual(await countStoredRows(context), stored);
    });
  });
}
