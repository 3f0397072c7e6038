/**
 * Default authentication (the `authenticate` hook's named default):
 *  - STOMP_USERS configured: `login` must be a known user and `passcode` must match.
 *  - nothing configured: `login` is the user name, unchecked (as Spring front ends
 *    send it); a warning is logged at start. No login: anonymous session.
 */
import { timingSafeEqual } from 'node:crypto';
import type { AuthContext, AuthenticateHook, AuthorizeContext, AuthorizeHook, Principal } from '../session/auth.js';
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

/**
 * Run the authenticate hook: its Principal (null: anonymous), or a coded
 * refusal (STOMP_ERR_AUTH_FAILED, or the StompError the hook threw).
 */
export async function authenticateWith(hook: AuthenticateHook, ctx: AuthContext): Promise<Principal | null> {
  let p: Principal | null | false;
  try {
    p = await hook(ctx);
  } catch (err) {
    if (err instanceof StompError) throw err;
    throw new StompError(ErrorCode.AUTH_FAILED, err instanceof Error ? err.message : 'authentication refused');
  }
  if (p === false) throw new StompError(ErrorCode.AUTH_FAILED, 'authentication refused');
  if (p && (typeof p.name !== 'string' || p.name.length === 0)) throw new StompError(ErrorCode.AUTH_FAILED, 'empty user name');
  return p;
}

/** Run an authorize hook: resolves when allowed, else a coded refusal (STOMP_ERR_FORBIDDEN, or the StompError it threw). */
export async function authorizeWith(hook: AuthorizeHook, ctx: AuthorizeContext): Promise<void> {
  let ok: boolean;
  try {
    ok = await hook(ctx);
  } catch (err) {
    if (err instanceof StompError) throw err;
    ok = false;
  }
  if (!ok) throw new StompError(ErrorCode.FORBIDDEN, `not allowed: ${ctx.destination}`);
}
