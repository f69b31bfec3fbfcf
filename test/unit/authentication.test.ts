import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { SignJWT } from 'jose';
import { TokenService } from '../../src/domain/auth/token-service.js';
import { registerAuthentication } from '../../src/http/plugins/authentication.js';
import { registerErrorHandling } from '../../src/http/plugins/error-handler.js';

const SECRET = 'unit-test-secret-that-is-long-enough-0123456789';
let now = Date.UTC(2026, 0, 1);
const clock = { now: () => now };
const tokens = new TokenService(SECRET, 7 * 24 * 3600, clock);

async function protectedApp() {
  const app = Fastify();
  registerErrorHandling(app);
  registerAuthentication(app, tokens);
  app.get('/whoami', { preHandler: app.authenticate }, async (request) => ({ userId: request.userId }));
  await app.ready();
  return app;
}

describe('TokenService', () => {
  it('issues tokens with user_id, iat and a seven-day exp', async () => {
    const token = await tokens.issue('user-1');
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());

    assert.equal(payload.user_id, 'user-1');
    assert.equal(payload.exp - payload.iat, 7 * 24 * 3600);
    assert.equal(await tokens.verify(token), 'user-1');
  });
});

describe('authenticate pre-handler', () => {
  it('accepts a valid bearer token', async () => {
    const app = await protectedApp();
    const token = await tokens.issue('user-2');

    const response = await app.inject({ url: '/whoami', headers: { authorization: `Bearer ${token}` } });

    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { userId: 'user-2' });
  });

  it('answers 401 with WWW-Authenticate when the token is missing', async () => {
    const app = await protectedApp();

    const response = await app.inject({ url: '/whoami' });

    assert.equal(response.statusCode, 401);
    assert.equal(response.json().error.code, 'missing_token');
    assert.equal(response.headers['www-authenticate'], 'Bearer');
  });

  it('rejects an expired token', async () => {
    const app = await protectedApp();
    const token = await tokens.issue('user-3');
    now += 8 * 24 * 3600 * 1000;

    const response = await app.inject({ url: '/whoami', headers: { authorization: `Bearer ${token}` } });
    now = Date.UTC(2026, 0, 1);

    assert.equal(response.statusCode, 401);
    assert.equal(response.json().error.code, 'invalid_token');
    assert.match(response.json().error.message, /expired/);
  });

  it('rejects a token signed with another secret', async () => {
    const app = await protectedApp();
    const forged = await new TokenService('another-secret-that-is-long-enough-0123456789', 3600, clock).issue('user-4');

    const response = await app.inject({ url: '/whoami', headers: { authorization: `Bearer ${forged}` } });

    assert.equal(response.statusCode, 401);
    assert.equal(response.json().error.code, 'invalid_token');
  });

  it('rejects the none algorithm and other algorithms', async () => {
    const app = await protectedApp();
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ user_id: 'user-5', iat: 1, exp: 9_999_999_999 })).toString('base64url');
    const hs512 = await new SignJWT({ user_id: 'user-5' })
      .setProtectedHeader({ alg: 'HS512' })
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));

    for (const token of [`${header}.${payload}.`, hs512]) {
      const response = await app.inject({ url: '/whoami', headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.statusCode, 401, token);
    }
  });

  it('rejects a header that is not a bearer token', async () => {
    const app = await protectedApp();

    const response = await app.inject({ url: '/whoami', headers: { authorization: 'Basic dXNlcjpwYXNz' } });

    assert.equal(response.statusCode, 401);
    assert.equal(response.json().error.code, 'invalid_token');
  });
});
