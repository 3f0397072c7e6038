import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

export function randomId(len = 10): string {
  const bytes = randomBytes(len);
  let s = '';
  for (let i = 0; i < len; i++) s += ALPHABET[bytes[i]! % 36];
  return s;
}

/** A node id usable in a Kafka topic name: time-ordered prefix plus randomness. */
export function generateNodeId(): string {
  return `n${Date.now().toString(36)}-${randomId(6)}`;
}

/** Cheap unique ids: a random boot prefix and a counter (unique across nodes and restarts). */
export class IdSequence {
  private readonly prefix: string;
  private n = 0;
  constructor(prefix: string = randomId(8)) {
    this.prefix = prefix;
  }
  next(): string {
    this.n++;
    // Decimal, so every id ends in a digit: the destination resolver recognises a
    // session id in Spring's internal form /queue/x-user<sessionId> by its digits.
    return `${this.prefix}-${this.n}`;
  }
}
