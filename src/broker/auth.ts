/**
 * Default authentication (the `authenticate` hook's named default):
 *  - STOMP_USERS configured: `login` must be a known user and `passcode` must match.
 *  - nothing configured: `login` is the user name, unchecked (as Spring front ends
 *    send it); a warning is logged at start. No login: anonymous session.
 */
import { timingSafeEqual } from 'node:crypto';
import type { AuthContext, AuthenticateHook, Principal } from '../config.js';
import { ErrorCode, StompError } from '../errors.js';

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function defaultAuthenticate(users: Record<string, string>): AuthenticateHook {
  // A Map of the configured entries only: a login such as "constructor" is not an Object.prototype member here.
  const table = new Map(Object.entries(users));
  const checked = table.size > 0;
  return (ctx: AuthContext): Principal | null => {
    const login = ctx.headers['login'];
    if (!checked) return login ? { name: login } : null;
    if (!login) throw new StompError(ErrorCode.AUTH_FAILED, 'login and passcode are required');
    const expected = table.get(login);
    const passcode = ctx.headers['passcode'] ?? '';
    if (expected === undefined || !safeEqual(expected, passcode))
      throw new StompError(ErrorCode.AUTH_FAILED, `bad login or passcode for "${login}"`);
    return { name: login };
  };
}
