/** Dispatch table: one small handler per client command. */
import type { Frame } from '../../stomp/frame.js';
import type { Session } from '../session.js';
import { ack, nack } from './ack.js';
import { connect } from './connect.js';
import { disconnect } from './disconnect.js';
import { send } from './send.js';
import { subscribe } from './subscribe.js';
import { abort, begin, commit } from './transaction.js';
import { unsubscribe } from './unsubscribe.js';

export type Handler = (s: Session, f: Frame) => Promise<void> | void;

export const HANDLERS: Readonly<Partial<Record<string, Handler>>> = {
  CONNECT: connect,
  STOMP: connect, // STOMP 1.2: STOMP is CONNECT under another name
  SEND: send,
  SUBSCRIBE: subscribe,
  UNSUBSCRIBE: unsubscribe,
  ACK: ack,
  NACK: nack,
  BEGIN: begin,
  COMMIT: commit,
  ABORT: abort,
  DISCONNECT: disconnect,
};
