import { ErrorCode, StompError } from '../../errors.js';
import type { Frame } from '../../stomp/frame.js';

/** A header the command requires; ERROR MISSING_HEADER names it. */
export function required(frame: Frame, name: string): string {
  const v = frame.headers[name];
  if (v === undefined || v === '') throw new StompError(ErrorCode.MISSING_HEADER, `${frame.command} requires a "${name}" header`);
  return v;
}

export function isPromise(v: unknown): v is Promise<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
