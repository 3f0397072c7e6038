/**
 * STOMP frame model shared by the codec, the sessions and the broker.
 * Pure data: no I/O.
 */

export type StompVersion = '1.0' | '1.1' | '1.2';

export const SUPPORTED_VERSIONS: readonly StompVersion[] = ['1.0', '1.1', '1.2'];

/** Client -> server commands. */
export const CLIENT_COMMANDS = [
  'CONNECT',
  'STOMP',
  'SEND',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'ACK',
  'NACK',
  'BEGIN',
  'COMMIT',
  'ABORT',
  'DISCONNECT',
] as const;

/** Server -> client commands. */
export const SERVER_COMMANDS = ['CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR'] as const;

export type ClientCommand = (typeof CLIENT_COMMANDS)[number];
export type ServerCommand = (typeof SERVER_COMMANDS)[number];
export type Command = ClientCommand | ServerCommand;

/**
 * Headers of a frame. Parsed frames use a null-prototype object; when a header
 * is repeated, the first occurrence wins (STOMP 1.2 "Repeated Header Entries").
 * Key order is the wire order, which the encoder preserves.
 */
export type Headers = Record<string, string>;

/**
 * Set a header on a plain-object `Headers`. A header named `__proto__` would
 * set the object's prototype through `h[name] = value`; it is defined as an
 * own property instead, like any other name.
 */
export function setHeader(h: Headers, name: string, value: string): void {
  if (name === '__proto__') Object.defineProperty(h, name, { value, enumerable: true, writable: true, configurable: true });
  else h[name] = value;
}

export interface Frame {
  command: Command;
  headers: Headers;
  /** Frame body. Parsed frames hold a view (or a copy when the frame spanned chunks). */
  body: Buffer;
}

/** A frame about to be encoded: the body may be a string or absent. */
export interface OutFrame {
  command: Command;
  headers: Headers;
  body?: Buffer | string | undefined;
}

export function isClientCommand(s: string): s is ClientCommand {
  return (CLIENT_COMMANDS as readonly string[]).includes(s);
}

export function isServerCommand(s: string): s is ServerCommand {
  return (SERVER_COMMANDS as readonly string[]).includes(s);
}

/**
 * Commands whose headers are never escaped (STOMP 1.2: "CONNECT and CONNECTED
 * frames do not escape"). STOMP is CONNECT under another name, so it is not
 * escaped either (a passcode with a backslash must not fail).
 */
export function escapesHeaders(command: string, version: StompVersion): boolean {
  if (version === '1.0') return false;
  return command !== 'CONNECT' && command !== 'STOMP' && command !== 'CONNECTED';
}
