/**
 * Who a session is, and the hooks that decide it: the `authenticate` hook
 * at CONNECT (the CONNECT headers and the HTTP request that opened the
 * connection), `authorizeSubscribe` / `authorizeSend` per destination. The
 * session layer calls them through its host; their defaults are in
 * src/broker/auth.ts (login / STOMP_USERS) and src/broker/jwt.ts (JWT).
 */
import type { IncomingMessage } from 'node:http';
import type { Headers } from '../stomp/frame.js';

/** Result of authentication: who the session is (null = anonymous). */
export interface Principal {
  name: string;
  /** Epoch ms at which the credentials expire (a JWT's `exp`): the session is closed then (STOMP_ERR_TOKEN_EXPIRED). */
  expiresAt?: number;
  /** Anything the app wants to carry (claims, roles). */
  attributes?: Record<string, unknown>;
}

export interface AuthContext {
  /** CONNECT frame headers (login, passcode, Authorization, ...). */
  headers: Headers;
  /** The HTTP request that opened the connection (the WebSocket upgrade, or the request that opened a SockJS session); undefined for TCP. */
  request?: IncomingMessage | undefined;
  transport: 'websocket' | 'sockjs' | 'tcp';
  remoteAddress: string;
}

/**
 * Decide who a session is. Return a Principal, null for an anonymous session,
 * or throw (or return false) to refuse the connection with an AUTH_FAILED ERROR.
 */
export type AuthenticateHook = (ctx: AuthContext) => Promise<Principal | null | false> | Principal | null | false;

export interface AuthorizeContext {
  principal: Principal | null;
  sessionId: string;
  destination: string;
  headers: Headers;
}
/** Return false (or throw) to refuse with a FORBIDDEN ERROR. */
export type AuthorizeHook = (ctx: AuthorizeContext) => Promise<boolean> | boolean;
