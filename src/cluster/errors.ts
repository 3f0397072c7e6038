/**
 * Errors and logging of the cluster backends (Redis, Kafka, envelope codec).
 *
 * These never reach a STOMP client directly (src/errors.ts is the client-facing
 * table); they reach the broker core, which decides what to do (retry, re-route,
 * inbox). Every error has a code; tests assert on codes.
 */

export const ClusterErrorCode = {
  /** Bytes that are not an encoded Envelope (wrong version, truncated, bad fields). */
  BAD_ENVELOPE: 'CLUSTER_ERR_BAD_ENVELOPE',
  /** The bus did not accept a message (delivery report error, queue full, timeout). */
  BUS_SEND: 'CLUSTER_ERR_BUS_SEND',
  /** The bus could not start (topics, clients, assignment) within its time limit. */
  BUS_START: 'CLUSTER_ERR_BUS_START',
  /** Draining a dead node's topic failed or timed out. */
  BUS_DRAIN: 'CLUSTER_ERR_BUS_DRAIN',
  /** Operation on a closed (or closing) backend. */
  CLOSED: 'CLUSTER_ERR_CLOSED',
  /** Misuse: start() twice, bad options. */
  INVALID_STATE: 'CLUSTER_ERR_INVALID_STATE',
} as const;

export type ClusterErrorCode = (typeof ClusterErrorCode)[keyof typeof ClusterErrorCode];

export class ClusterError extends Error {
  readonly code: ClusterErrorCode;

  constructor(code: ClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClusterError';
    this.code = code;
  }
}

export function isClusterError(err: unknown, code?: ClusterErrorCode): err is ClusterError {
  return err instanceof ClusterError && (code === undefined || err.code === code);
}

/** The subset of a pino logger the backends use (object first, like pino). */
export interface ClusterLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => undefined;
export const silentLogger: ClusterLogger = { debug: noop, info: noop, warn: noop, error: noop };
