// Tiny request/response protocol over Node's IPC channel, so a benchmark can
// run its server and its clients in separate processes (on a 2-core machine
// the clients must not share the broker's event loop) and drive them step by
// step. A parent calls `role.call(type, args)`; the child answers from its
// handler table. Messages without an id are events (e.g. progress counts).
import { fork } from 'node:child_process';

/** Start `file` as a child process; its stdout goes to our stderr so our stdout stays a clean report. */
export function spawnRole(file, { execArgv = [], name = file, env = undefined } = {}) {
  const child = fork(file, [], { execArgv, env: env ? { ...process.env, ...env } : process.env, serialization: 'advanced', stdio: ['ignore', 2, 2, 'ipc'] });
  let seq = 0;
  const pending = new Map();
  const listeners = new Set();
  let exited = false;
  const exitPromise = new Promise((resolve) => child.once('exit', resolve));
  child.on('message', (m) => {
    if (m && m.re !== undefined) {
      const p = pending.get(m.re);
      if (!p) return;
      pending.delete(m.re);
      clearTimeout(p.timer);
      if (m.error) p.reject(new Error(`${name}: ${m.error}`));
      else p.resolve(m.result);
    } else for (const l of listeners) l(m);
  });
  child.once('exit', (code, sig) => {
    exited = true;
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`${name} exited (${code ?? sig}) during a request`));
    }
    pending.clear();
  });
  return {
    child,
    pid: child.pid,
    /** Ask the child to run handler `type`; rejects after timeoutMs. */
    call(type, args = {}, timeoutMs = 60_000) {
      if (exited) return Promise.reject(new Error(`${name} has exited`));
      const id = ++seq;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name}: "${type}" timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        child.send({ id, type, args });
      });
    },
    /** Fire-and-forget event to the child. */
    send(msg) {
      if (!exited && child.connected) child.send(msg);
    },
    onEvent(fn) {
      listeners.add(fn);
    },
    /** Ask the child to exit; kill it (by pid, this child only) if it does not within 5 s. */
    async stop() {
      if (exited) return;
      await this.call('exit', {}, 5_000).catch(() => undefined);
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exitPromise;
      clearTimeout(t);
    },
  };
}

/** In a child: answer requests from `handlers` (async functions of args). */
export function serveRole(handlers) {
  process.on('message', async (m) => {
    if (!m || m.id === undefined) {
      handlers.onEvent?.(m);
      return;
    }
    if (m.type === 'exit') {
      process.send({ re: m.id, result: true }, () => process.exit(0));
      return;
    }
    const h = handlers[m.type];
    try {
      if (!h) throw new Error(`no handler "${m.type}"`);
      const result = await h(m.args ?? {});
      process.send({ re: m.id, result });
    } catch (err) {
      process.send({ re: m.id, error: err?.stack ?? String(err) });
    }
  });
  // The parent went away (crash, Ctrl-C): do not linger.
  process.on('disconnect', () => process.exit(0));
}

/** Send an event to the parent (no reply). */
export function emit(msg) {
  if (process.connected) process.send(msg);
}
