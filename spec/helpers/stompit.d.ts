/** The part of stompit's API the tests use (it ships no types). */
declare module 'stompit' {
  import type { Readable, Writable } from 'node:stream';
  import type { EventEmitter } from 'node:events';

  export interface Message extends Readable {
    headers: Record<string, string>;
    readString(encoding: string, callback: (err: Error | null, body?: string) => void): void;
  }

  export interface Subscription {
    getId(): string;
    unsubscribe(headers?: Record<string, string>): void;
  }

  export interface Client extends EventEmitter {
    headers: Record<string, string>;
    send(headers: Record<string, string | number> | string, options?: { onReceipt?: () => void }): Writable;
    sendString(headers: Record<string, string | number> | string, body: string, options?: object, callback?: (err?: Error) => void): void;
    subscribe(headers: Record<string, string | number> | string, onMessage: (err: Error | null, message: Message) => void): Subscription;
    ack(message: Message, headers?: Record<string, string>): void;
    nack(message: Message, headers?: Record<string, string>): void;
    disconnect(callback?: (err: Error | null) => void): void;
    destroy(err?: Error): void;
  }

  export interface ConnectOptions {
    host: string;
    port: number;
    timeout?: number;
    connectHeaders?: Record<string, string>;
  }

  export function connect(options: ConnectOptions, callback: (err: (Error & { longMessage?: string }) | null, client: Client) => void): Client;

  const stompit: { connect: typeof connect };
  export default stompit;
}
