import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../domain/clock.js';

/** The path under which the API serves stored objects to holders of a signed link. */
export const FILE_LINK_PATH_PREFIX = '/files/';

export type FileLinkCheck = 'valid' | 'expired' | 'invalid';

/**
 * Signs and checks the expiring links that serve stored objects from this server:
 * `<baseUrl>/files/<key>?expires=<unix seconds>&signature=<base64url HMAC-SHA256 of key and expiry>`.
 * Only a holder of the secret can make a link, and changing the key or the expiry breaks the signature.
 */
export class FileLinkSigner {
  private readonly signingKey: Buffer;

  /**
   * `secret` is the server's JWT secret. The signing key is derived from it with a fixed label, so a
   * file-link signature can never be reused as a token signature or the other way round.
   */
  constructor(
    secret: string,
    private readonly baseUrl: string,
    private readonly clock: Clock,
  ) {
    this.signingKey = createHmac('sha256', secret).update('envision signed file links v1').digest();
  }

  /** Builds an absolute URL for `key` that stays valid for `expiresInSeconds` from now. */
  url(key: string, expiresInSeconds: number): string {
    const expires = Math.floor(this.clock.now() / 1000) + Math.max(1, Math.ceil(expiresInSeconds));
    const path = key.split('/').map(encodeURIComponent).join('/');
    const query = new URLSearchParams({ expires: String(expires), signature: this.sign(key, expires) });
    return `${this.baseUrl}${FILE_LINK_PATH_PREFIX}${path}?${query.toString()}`;
  }

  /** Checks a link's query parameters for `key`. A missing or malformed parameter makes the link invalid. */
  check(key: string, expires: string | undefined, signature: string | undefined): FileLinkCheck {
    if (expires === undefined || signature === undefined || !/^\d{1,12}$/.test(expires)) {
      return 'invalid';
    }
    const expected = Buffer.from(this.sign(key, Number(expires)));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return 'invalid';
    }
    return Number(expires) * 1000 <= this.clock.now() ? 'expired' : 'valid';
  }

  /** Seconds until a link with this `expires` parameter expires, at least 0. */
  secondsLeft(expires: string): number {
    return Math.max(0, Number(expires) - Math.floor(this.clock.now() / 1000));
  }

  private sign(key: string, expires: number): string {
    return createHmac('sha256', this.signingKey).update(`${key}\n${expires}`).digest('base64url');
  }
}

/** Wildcard listening addresses and the loopback address that links use in their place. */
const LOOPBACK_FOR_WILDCARD: Record<string, string> = { '0.0.0.0': '127.0.0.1', '::': '::1' };

/**
 * Returns the base URL of links: PUBLIC_BASE_URL when set, else the listening address. A wildcard
 * address (`0.0.0.0`, `::`) cannot be reached as such, so links use loopback instead.
 */
export function fileLinkBaseUrl(config: { publicBaseUrl: string | undefined; host: string; port: number }): string {
  if (config.publicBaseUrl !== undefined) {
    return config.publicBaseUrl;
  }
  const host = LOOPBACK_FOR_WILDCARD[config.host] ?? config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}
