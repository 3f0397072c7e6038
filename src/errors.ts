/**
 * Every error a client (or the broker) can cause has a code. This file is the
 * one table mapping each code to the `message` header text of the ERROR
 * frame a client sees (the frame's body says what exactly was wrong). Every
 * ERROR closes the connection (STOMP 1.2: the server closes after ERROR).
 *
 * Tests assert on codes (the ERROR frame carries the code in a `code`
 * header), never on message text.
 */

export const ErrorCode = {
  // --- codec (src/stomp) -------------------------------------------------
  FRAME_TOO_LARGE: 'STOMP_ERR_FRAME_TOO_LARGE',
  TOO_MANY_HEADERS: 'STOMP_ERR_TOO_MANY_HEADERS',
  HEADER_LINE_TOO_LONG: 'STOMP_ERR_HEADER_LINE_TOO_LONG',
  COMMAND_TOO_LONG: 'STOMP_ERR_COMMAND_TOO_LONG',
  INVALID_ESCAPE: 'STOMP_ERR_INVALID_ESCAPE',
  MALFORMED_HEADER: 'STOMP_ERR_MALFORMED_HEADER',
  INVALID_CONTENT_LENGTH: 'STOMP_ERR_INVALID_CONTENT_LENGTH',
  MISSING_NULL: 'STOMP_ERR_MISSING_NULL',
  UNKNOWN_COMMAND: 'STOMP_ERR_UNKNOWN_COMMAND',
  PADDING_TOO_LONG: 'STOMP_ERR_PADDING_TOO_LONG',

  // --- session protocol ----------------------------------------------------
  NOT_CONNECTED: 'STOMP_ERR_NOT_CONNECTED',
  ALREADY_CONNECTED: 'STOMP_ERR_ALREADY_CONNECTED',
  UNSUPPORTED_VERSION: 'STOMP_ERR_UNSUPPORTED_VERSION',
  INVALID_HEARTBEAT: 'STOMP_ERR_INVALID_HEARTBEAT',
  MISSING_HEADER: 'STOMP_ERR_MISSING_HEADER',
  INVALID_HEADER: 'STOMP_ERR_INVALID_HEADER',
  AUTH_FAILED: 'STOMP_ERR_AUTH_FAILED',
  DUPLICATE_SUBSCRIPTION: 'STOMP_ERR_DUPLICATE_SUBSCRIPTION',
  UNKNOWN_SUBSCRIPTION: 'STOMP_ERR_UNKNOWN_SUBSCRIPTION',
  TOO_MANY_SUBSCRIPTIONS: 'STOMP_ERR_TOO_MANY_SUBSCRIPTIONS',
  INVALID_DESTINATION: 'STOMP_ERR_INVALID_DESTINATION',
  FORBIDDEN: 'STOMP_ERR_FORBIDDEN',
  NO_HANDLER: 'STOMP_ERR_NO_HANDLER',
  HANDLER_FAILED: 'STOMP_ERR_HANDLER_FAILED',
  UNKNOWN_TRANSACTION: 'STOMP_ERR_UNKNOWN_TRANSACTION',
  DUPLICATE_TRANSACTION: 'STOMP_ERR_DUPLICATE_TRANSACTION',
  TOO_MANY_TRANSACTIONS: 'STOMP_ERR_TOO_MANY_TRANSACTIONS',
  UNKNOWN_ACK: 'STOMP_ERR_UNKNOWN_ACK',
  INVALID_ACK_MODE: 'STOMP_ERR_INVALID_ACK_MODE',
  PATTERN_TOO_COMPLEX: 'STOMP_ERR_PATTERN_TOO_COMPLEX',
  TOKEN_EXPIRED: 'STOMP_ERR_TOKEN_EXPIRED',

  // --- resource limits (docs/design.md "Security and resource limits") -------
  MEMORY_BUDGET: 'STOMP_ERR_MEMORY_BUDGET',
  SENDER_QUOTA: 'STOMP_ERR_SENDER_QUOTA',
  TRANSACTION_TOO_LARGE: 'STOMP_ERR_TRANSACTION_TOO_LARGE',
  INPUT_OVERFLOW: 'STOMP_ERR_INPUT_OVERFLOW',

  // --- connection / server -------------------------------------------------
  SLOW_CONSUMER: 'STOMP_ERR_SLOW_CONSUMER',
  HEARTBEAT_TIMEOUT: 'STOMP_ERR_HEARTBEAT_TIMEOUT',
  CONNECT_TIMEOUT: 'STOMP_ERR_CONNECT_TIMEOUT',
  SERVER_SHUTDOWN: 'STOMP_ERR_SERVER_SHUTDOWN',
  SESSION_KICKED: 'STOMP_ERR_SESSION_KICKED',
  INTERNAL: 'STOMP_ERR_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

interface ErrorSpec {
  /** Text of the ERROR frame's `message` header (short, one line). */
  readonly message: string;
}

/** The one table: code -> what the client is told. Every ERROR closes the connection. */
export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorSpec>> = {
  [ErrorCode.FRAME_TOO_LARGE]: { message: 'Frame too large' },
  [ErrorCode.TOO_MANY_HEADERS]: { message: 'Too many headers' },
  [ErrorCode.HEADER_LINE_TOO_LONG]: { message: 'Header line too long' },
  [ErrorCode.COMMAND_TOO_LONG]: { message: 'Command line too long' },
  [ErrorCode.INVALID_ESCAPE]: { message: 'Invalid header escape sequence' },
  [ErrorCode.MALFORMED_HEADER]: { message: 'Malformed header line' },
  [ErrorCode.INVALID_CONTENT_LENGTH]: { message: 'Invalid content-length header' },
  [ErrorCode.MISSING_NULL]: { message: 'Frame body not terminated by NULL' },
  [ErrorCode.UNKNOWN_COMMAND]: { message: 'Unknown command' },
  [ErrorCode.PADDING_TOO_LONG]: { message: 'Too many NUL bytes between frames' },

  [ErrorCode.NOT_CONNECTED]: { message: 'Not connected' },
  [ErrorCode.ALREADY_CONNECTED]: { message: 'Already connected' },
  [ErrorCode.UNSUPPORTED_VERSION]: { message: 'Supported protocol versions are 1.0,1.1,1.2' },
  [ErrorCode.INVALID_HEARTBEAT]: { message: 'Invalid heart-beat header' },
  [ErrorCode.MISSING_HEADER]: { message: 'Missing required header' },
  [ErrorCode.INVALID_HEADER]: { message: 'Invalid header value' },
  [ErrorCode.AUTH_FAILED]: { message: 'Authentication failed' },
  [ErrorCode.DUPLICATE_SUBSCRIPTION]: { message: 'Subscription id already in use' },
  [ErrorCode.UNKNOWN_SUBSCRIPTION]: { message: 'No such subscription' },
  [ErrorCode.TOO_MANY_SUBSCRIPTIONS]: { message: 'Too many subscriptions' },
  [ErrorCode.INVALID_DESTINATION]: { message: 'Invalid destination' },
  [ErrorCode.FORBIDDEN]: { message: 'Access to destination denied' },
  [ErrorCode.NO_HANDLER]: { message: 'No handler for destination' },
  [ErrorCode.HANDLER_FAILED]: { message: 'Message handler failed' },
  [ErrorCode.UNKNOWN_TRANSACTION]: { message: 'No such transaction' },
  [ErrorCode.DUPLICATE_TRANSACTION]: { message: 'Transaction already started' },
  [ErrorCode.TOO_MANY_TRANSACTIONS]: { message: 'Too many open transactions' },
  [ErrorCode.UNKNOWN_ACK]: { message: 'No such message to acknowledge' },
  [ErrorCode.INVALID_ACK_MODE]: { message: 'Invalid ack mode' },
  [ErrorCode.PATTERN_TOO_COMPLEX]: { message: 'Destination pattern too long or with too many wildcards' },
  [ErrorCode.TOKEN_EXPIRED]: { message: 'Authentication token expired' },

  [ErrorCode.MEMORY_BUDGET]: { message: 'Server memory budget for held messages exhausted, try again later' },
  [ErrorCode.SENDER_QUOTA]: { message: 'Too many bytes held for this sender, try again later' },
  [ErrorCode.TRANSACTION_TOO_LARGE]: { message: 'Transaction holds too many bytes' },
  [ErrorCode.INPUT_OVERFLOW]: { message: 'Too many frames waiting to be processed' },

  [ErrorCode.SLOW_CONSUMER]: { message: 'Send buffer overflow: client is not reading' },
  [ErrorCode.HEARTBEAT_TIMEOUT]: { message: 'No heart-beat received in time' },
  [ErrorCode.CONNECT_TIMEOUT]: { message: 'No CONNECT frame received in time' },
  [ErrorCode.SERVER_SHUTDOWN]: { message: 'Server shutting down, please reconnect' },
  [ErrorCode.SESSION_KICKED]: { message: 'Session closed by the server' },
  [ErrorCode.INTERNAL]: { message: 'Internal server error' },
};

/**
 * A coded error. `detail` becomes the ERROR frame's body (what exactly was
 * wrong); `headers` are extra headers for the ERROR frame (e.g. `version`).
 */
export class StompError extends Error {
  readonly code: ErrorCode;
  readonly detail: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, detail?: string, headers: Record<string, string> = {}) {
    const spec = ERROR_TABLE[code];
    super(detail ? `${spec.message}: ${detail}` : spec.message);
    this.name = 'StompError';
    this.code = code;
    this.detail = detail ?? spec.message;
    this.headers = headers;
  }

  /** Text of the ERROR frame's `message` header. */
  get stompMessage(): string {
    return ERROR_TABLE[this.code].message;
  }
}

export function isStompError(err: unknown): err is StompError {
  return err instanceof StompError;
}
