import { timingSafeEqual } from 'node:crypto';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** True when the Authorization header carries `token` as a bearer token; compared in constant time. */
export function bearerTokenMatches(header: string | undefined, token: string): boolean {
  const sent = BEARER.exec(header ?? '')?.[1];
  if (sent === undefined) {
    return false;
  }
  const expected = Buffer.from(token);
  const actual = Buffer.from(sent);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
