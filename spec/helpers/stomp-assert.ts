/** Assertions on what a STOMP client sees, shared by the broker and session tests. */
import type { Frame } from '../../src/stomp/frame.js';

/** The few tap assertions used here (loosely typed, so any tap Test fits). */
/* eslint-disable @typescript-eslint/no-explicit-any */
export interface Asserts {
  equal(found: any, wanted: any, ...rest: any[]): any;
  ok(value: any, ...rest: any[]): any;
  notOk(value: any, ...rest: any[]): any;
}

export interface FrameSource {
  next(command?: string, ms?: number): Promise<Frame>;
  waitClosed(ms?: number): Promise<true>;
}

/**
 * The next frame is an ERROR with `code`, a `message` header, a non-empty
 * body, `receipt-id` exactly when the failing frame had a receipt; then the
 * server closes the connection.
 */
export async function expectError(
  t: Asserts,
  c: FrameSource,
  code: string,
  opts: { receipt?: string; headers?: Record<string, string> } = {},
): Promise<Frame> {
  const f = await c.next();
  t.equal(f.command, 'ERROR', `ERROR frame (got ${f.command} ${f.body.toString()})`);
  t.equal(f.headers['code'], code, `code ${code}`);
  t.ok(f.headers['message'], 'ERROR has a message header');
  t.ok(f.body.length > 0, 'ERROR has a body saying what was wrong');
  t.equal(f.headers['content-type'], 'text/plain;charset=UTF-8', 'the body is UTF-8 text');
  if (opts.receipt !== undefined) t.equal(f.headers['receipt-id'], opts.receipt, 'ERROR carries receipt-id');
  else t.notOk('receipt-id' in f.headers, 'no receipt-id without a receipt');
  for (const [k, v] of Object.entries(opts.headers ?? {})) t.equal(f.headers[k], v, `ERROR header ${k}`);
  await c.waitClosed();
  return f;
}

/** A string frame (STOMP 1.2 wire format) for hand-written frames. */
export function raw(command: string, headers: Record<string, string> = {}, body = ''): string {
  let s = command + '\n';
  for (const [k, v] of Object.entries(headers)) s += `${k}:${v}\n`;
  return s + '\n' + body + '\0';
}
