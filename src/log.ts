import { pino, type Logger } from 'pino';

/** Object-first JSON logs; sessions log through child loggers bound to node and session ids. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'stomp-cluster' } });
}
