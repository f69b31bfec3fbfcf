import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import type { Clock } from '../clock.js';
import { appError } from '../errors.js';

const ALGORITHM = 'HS256';

/**
 * Issues and checks the session tokens that `/verify-payment` returns: HS256 JWTs with the claims
 * `user_id`, `iat` and `exp`, the shape the iOS app already stores.
 */
export class TokenService {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
    private readonly clock: Clock,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(userId: string): Promise<string> {
    const issuedAt = Math.floor(this.clock.now() / 1000);
    return new SignJWT({ user_id: userId })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + this.ttlSeconds)
      .sign(this.key);
  }

  /** Returns the token's user id. Throws `invalid_token` for anything but an unexpired HS256 token we signed. */
  async verify(token: string): Promise<string> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [ALGORITHM],
        currentDate: new Date(this.clock.now()),
        requiredClaims: ['iat', 'exp'],
      });
      if (typeof payload.user_id !== 'string' || payload.user_id === '') {
        throw invalidToken('The token has no user_id claim.');
      }
      return payload.user_id;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        throw invalidToken('The token has expired. Call /verify-payment again for a new one.');
      }
      if (error instanceof joseErrors.JOSEError) {
        throw invalidToken('The token is not valid. Call /verify-payment for a new one.');
      }
      throw error;
    }
  }
}

function invalidToken(message: string) {
  return appError('invalid_token', message, {
    headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
  });
}
