/** Many raw sessions at once, for tests that need a crowd. */
import { RawClient } from './client.js';
import { raw } from './stomp-assert.js';

/**
 * `n` TCP sessions to `port`, each sending CONNECT with `heartBeat` (not yet
 * answered: the caller waits for CONNECTED), closed by the test's teardown.
 */
export async function tcpSessions(t: { teardown(fn: () => unknown): void }, port: number, n: number, heartBeat: string): Promise<RawClient[]> {
  const sessions: RawClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = await RawClient.tcp(port);
    t.teardown(() => c.close());
    c.send(raw('CONNECT', { 'accept-version': '1.2', host: 'h', 'heart-beat': heartBeat }));
    sessions.push(c);
  }
  return sessions;
}
