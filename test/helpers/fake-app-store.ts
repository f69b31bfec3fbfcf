import { type KeyObject, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CompactSign, jwtVerify } from 'jose';
import { type TestCertificateChain, createTestCertificateChain } from './apple-certificates.js';

export type FakeEnvironment = 'Production' | 'Sandbox';

export const TEST_BUNDLE_ID = 'com.envision.tests';
export const TEST_APP_APPLE_ID = 1234567890;
const TEST_ISSUER_ID = '00000000-0000-4000-8000-000000000001';
const TEST_KEY_ID = 'TESTKEY123';

/** Apple's subscription status numbers (App Store Server API `status`). */
export const AppleStatus = { active: 1, expired: 2, billingRetry: 3, gracePeriod: 4, revoked: 5 } as const;

export interface FakeTransaction {
  transactionId: string;
  /** Replaces the transaction id in the signed data, to play a response that disagrees with the lookup. */
  signedTransactionId?: string;
  productId?: string;
  expiresDate?: number;
  revocationDate?: number;
  revocationReason?: number;
  /** Replaces the bundle id in the signed data, to play a transaction of another app. */
  bundleId?: string;
}

export interface FakeSubscription {
  environment: FakeEnvironment;
  originalTransactionId: string;
  /** Every transaction of the subscription, oldest first; the last one is the latest renewal. */
  transactions: FakeTransaction[];
  status: number;
  autoRenew?: boolean;
  gracePeriodExpiresDate?: number;
}

/**
 * How an environment responds. `normal` serves its subscriptions, `unauthorized` returns 401 to every
 * request (Production before an app's first release), `hang` never responds, `rate-limited` and
 * `server-error` return 429 and 500, and `reset` closes the connection without a response.
 */
export type FakeBehaviour = 'normal' | 'unauthorized' | 'hang' | 'rate-limited' | 'server-error' | 'reset';

export interface FakeRequest {
  environment: FakeEnvironment;
  path: string;
}

/**
 * A fake App Store Server API on a loopback port. It checks the client's ES256 bearer token and serves
 * transactions signed, as Apple's are, by a certificate chain whose root the server under test is configured
 * to trust. Production and Sandbox are the paths `/production` and `/sandbox`.
 */
export class FakeAppStore {
  readonly chain: TestCertificateChain;
  readonly requests: FakeRequest[] = [];
  readonly behaviour: Record<FakeEnvironment, FakeBehaviour> = { Production: 'normal', Sandbox: 'normal' };
  /** When set, signed data is signed with this key instead of the leaf certificate's: a forgery. */
  forgeryKey: KeyObject | undefined;
  /** When set, signed data is signed by this chain, whose root the server under test does not trust. */
  untrustedChain: TestCertificateChain | undefined;

  private readonly subscriptions: FakeSubscription[] = [];
  private readonly apiKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  private readonly directory = mkdtempSync(path.join(tmpdir(), 'envision-fake-apple-'));
  private server: Server | undefined;
  private baseUrl = '';

  constructor(chain: TestCertificateChain = createTestCertificateChain()) {
    this.chain = chain;
  }

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        response.statusCode = 500;
        response.end(String(error));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
    rmSync(this.directory, { recursive: true, force: true });
  }

  /** Environment variables that aim the server under test at this fake, with online checks off. */
  environment(overrides: Record<string, string> = {}): Record<string, string> {
    const keyPath = path.join(this.directory, 'api-key.p8');
    const rootPath = path.join(this.directory, 'root.cer');
    writeFileSync(keyPath, this.apiKey.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(rootPath, this.chain.root.der);
    return {
      APPLE_BUNDLE_ID: TEST_BUNDLE_ID,
      APPLE_APP_APPLE_ID: String(TEST_APP_APPLE_ID),
      APPLE_ISSUER_ID: TEST_ISSUER_ID,
      APPLE_KEY_ID: TEST_KEY_ID,
      APPLE_PRIVATE_KEY_PATH: keyPath,
      APPLE_ROOT_CERTIFICATE_PATH: rootPath,
      APPLE_ONLINE_CHECKS: 'false',
      APPLE_PRODUCTION_API_URL: `${this.baseUrl}/production`,
      APPLE_SANDBOX_API_URL: `${this.baseUrl}/sandbox`,
      ...overrides,
    };
  }

  addSubscription(subscription: FakeSubscription): FakeSubscription {
    this.subscriptions.push(subscription);
    return subscription;
  }

  reset(): void {
    this.subscriptions.length = 0;
    this.requests.length = 0;
    this.behaviour.Production = 'normal';
    this.behaviour.Sandbox = 'normal';
    this.forgeryKey = undefined;
    this.untrustedChain = undefined;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const match = /^\/(production|sandbox)(\/inApps\/v1\/(transactions|subscriptions)\/([^/?]+))/.exec(request.url ?? '');
    if (match === null) {
      return sendJson(response, 404, { errorCode: 4040000, errorMessage: 'Not found.' });
    }
    const environment: FakeEnvironment = match[1] === 'production' ? 'Production' : 'Sandbox';
    this.requests.push({ environment, path: match[2]! });

    const behaviour = this.behaviour[environment];
    if (behaviour === 'hang') {
      return; // The client's timeout has to end this request.
    }
    if (behaviour === 'reset') {
      request.socket.destroy();
      return;
    }
    if (behaviour === 'unauthorized' || !(await this.isAuthorized(request))) {
      response.statusCode = 401;
      response.end();
      return;
    }
    if (behaviour === 'rate-limited') {
      return sendJson(response, 429, { errorCode: 4290000, errorMessage: 'Rate limit exceeded.' });
    }
    if (behaviour === 'server-error') {
      return sendJson(response, 500, { errorCode: 5000000, errorMessage: 'An unknown error occurred.' });
    }

    const transactionId = decodeURIComponent(match[4]!);
    const subscription = this.subscriptions.find(
      (candidate) =>
        candidate.environment === environment &&
        (candidate.originalTransactionId === transactionId ||
          candidate.transactions.some((transaction) => transaction.transactionId === transactionId)),
    );
    if (subscription === undefined) {
      return sendJson(response, 404, { errorCode: 4040010, errorMessage: 'Transaction id not found.' });
    }

    if (match[3] === 'transactions') {
      const transaction = subscription.transactions.find((candidate) => candidate.transactionId === transactionId);
      if (transaction === undefined) {
        return sendJson(response, 404, { errorCode: 4040010, errorMessage: 'Transaction id not found.' });
      }
      return sendJson(response, 200, { signedTransactionInfo: await this.signTransaction(subscription, transaction) });
    }

    const latest = subscription.transactions.at(-1)!;
    return sendJson(response, 200, {
      environment,
      bundleId: TEST_BUNDLE_ID,
      appAppleId: TEST_APP_APPLE_ID,
      data: [
        {
          subscriptionGroupIdentifier: '21000001',
          lastTransactions: [
            {
              originalTransactionId: subscription.originalTransactionId,
              status: subscription.status,
              signedTransactionInfo: await this.signTransaction(subscription, latest),
              signedRenewalInfo: await this.signRenewal(subscription, latest),
            },
          ],
        },
      ],
    });
  }

  /** Checks the bearer token the way Apple documents it: ES256 with our key id, issuer, audience and bundle id. */
  private async isAuthorized(request: IncomingMessage): Promise<boolean> {
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (token === undefined) {
      return false;
    }
    try {
      const { payload, protectedHeader } = await jwtVerify(token, this.apiKey.publicKey, {
        algorithms: ['ES256'],
        issuer: TEST_ISSUER_ID,
        audience: 'appstoreconnect-v1',
      });
      return protectedHeader.kid === TEST_KEY_ID && payload.bid === TEST_BUNDLE_ID;
    } catch {
      return false;
    }
  }

  private signTransaction(subscription: FakeSubscription, transaction: FakeTransaction): Promise<string> {
    const first = subscription.transactions[0]!;
    return this.sign({
      transactionId: transaction.signedTransactionId ?? transaction.transactionId,
      originalTransactionId: subscription.originalTransactionId,
      bundleId: transaction.bundleId ?? TEST_BUNDLE_ID,
      productId: transaction.productId ?? 'com.envision.weekly',
      subscriptionGroupIdentifier: '21000001',
      purchaseDate: (transaction.expiresDate ?? Date.now()) - 7 * 24 * 3600 * 1000,
      originalPurchaseDate: (first.expiresDate ?? Date.now()) - 7 * 24 * 3600 * 1000,
      ...(transaction.expiresDate === undefined ? {} : { expiresDate: transaction.expiresDate }),
      ...(transaction.revocationDate === undefined ? {} : { revocationDate: transaction.revocationDate }),
      ...(transaction.revocationReason === undefined ? {} : { revocationReason: transaction.revocationReason }),
      quantity: 1,
      type: 'Auto-Renewable Subscription',
      inAppOwnershipType: 'PURCHASED',
      signedDate: Date.now(),
      environment: subscription.environment,
      transactionReason: 'PURCHASE',
      storefront: 'USA',
      storefrontId: '143441',
    });
  }

  private signRenewal(subscription: FakeSubscription, latest: FakeTransaction): Promise<string> {
    return this.sign({
      originalTransactionId: subscription.originalTransactionId,
      autoRenewProductId: latest.productId ?? 'com.envision.weekly',
      productId: latest.productId ?? 'com.envision.weekly',
      autoRenewStatus: subscription.autoRenew === false ? 0 : 1,
      ...(subscription.gracePeriodExpiresDate === undefined
        ? {}
        : { gracePeriodExpiresDate: subscription.gracePeriodExpiresDate, isInBillingRetryPeriod: true }),
      signedDate: Date.now(),
      environment: subscription.environment,
    });
  }

  /** Signs a payload as a JWS with the chain in its x5c header, leaf first, as the App Store does. */
  private sign(payload: Record<string, unknown>): Promise<string> {
    const chain = this.untrustedChain ?? this.chain;
    const x5c = [chain.leaf.der, chain.intermediate.der, chain.root.der].map((der) => der.toString('base64'));
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'ES256', x5c })
      .sign(this.forgeryKey ?? chain.leaf.privateKey);
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
