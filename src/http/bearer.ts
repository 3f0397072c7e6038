/** `Authorization: Bearer <token>` checks for the HTTP API and /metrics, in constant time. */
import { timingSafeEqual } from 'node:crypto';

export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(authorization ?? '');
  return got.length === expected.length && timingSafeEqual(got, expected);
}
