/**
 * JWT authentication at CONNECT (an `authenticate` hook), verified with jose:
 * an HMAC secret or a JWKS URL. The token is looked for, in order, in the
 * CONNECT `Authorization: Bearer …` header, the `passcode` header (what
 * Spring front ends often use), the upgrade request's `access_token` query
 * parameter, and its cookie (`access_token` by default).
 */
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { AuthContext, AuthenticateHook, Principal } from '../session/auth.js';
import { ErrorCode, StompError } from '../errors.js';

export interface JwtOptions {
  /** HMAC secret (HS256/384/512). */
  secret?: string | null | undefined;
  /** JWKS endpoint (RS/ES/EdDSA keys). */
  jwksUrl?: string | null | undefined;
  issuer?: string | null | undefined;
  audience?: string | null | undefined;
  /** Claim holding the user name. */
  userClaim?: string | undefined;
  /** Cookie carrying the token. */
  cookie?: string | undefined;
  /** Allow CONNECT without a token (anonymous session) instead of refusing. */
  allowAnonymous?: boolean | undefined;
  /**
   * Refuse tokens without an `exp` claim (default true): a token that never
   * expires makes a stolen one good forever. The session ends when its token
   * expires either way (ERROR STOMP_ERR_TOKEN_EXPIRED).
   */
  requireExp?: boolean | undefined;
}

function fromCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

export function findToken(ctx: AuthContext, cookie = 'access_token'): string | undefined {
  const h = ctx.headers;
  const auth = h['Authorization'] ?? h['authorization'];
  if (auth && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  if (h['passcode'] && h['passcode'].split('.').length === 3) return h['passcode'];
  const req = ctx.request;
  if (req?.url) {
    const q = new URL(req.url, 'http://localhost').searchParams.get('access_token');
    if (q) return q;
  }
  return fromCookie(req?.headers?.cookie, cookie);
}

export function jwtAuthenticate(opts: JwtOptions): AuthenticateHook {
  let key: Uint8Array | JWTVerifyGetKey;
  if (opts.secret) key = new TextEncoder().encode(opts.secret);
  else if (opts.jwksUrl) key = createRemoteJWKSet(new URL(opts.jwksUrl));
  else throw new Error('jwt: a secret or a jwksUrl is required');
  const claim = opts.userClaim ?? 'sub';
  return async (ctx: AuthContext): Promise<Principal | null> => {
    const token = findToken(ctx, opts.cookie);
    if (!token) {
      if (opts.allowAnonymous) return null;
      throw new StompError(ErrorCode.AUTH_FAILED, 'a JWT is required (Authorization: Bearer header, passcode, access_token query or cookie)');
    }
    let payload: JWTPayload;
    try {
      const verifyOpts: { issuer?: string; audience?: string; requiredClaims?: string[] } = {};
      if (opts.requireExp !== false) verifyOpts.requiredClaims = ['exp'];
      if (opts.issuer) verifyOpts.issuer = opts.issuer;
      if (opts.audience) verifyOpts.audience = opts.audience;
      ({ payload } =
        key instanceof Uint8Array ? await jwtVerify(token, key, verifyOpts) : await jwtVerify(token, key, verifyOpts));
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'ERR_JWT_INVALID';
      throw new StompError(ErrorCode.AUTH_FAILED, `invalid token (${code})`);
    }
    const name = payload[claim];
    if (typeof name !== 'string' || name.length === 0) throw new StompError(ErrorCode.AUTH_FAILED, `token has no "${claim}" claim`);
    const p: Principal = { name, attributes: { claims: payload } };
    if (typeof payload.exp === 'number') p.expiresAt = payload.exp * 1000;
    return p;
  };
}
