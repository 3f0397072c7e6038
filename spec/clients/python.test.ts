/**
 * Client matrix: Debian's python3-stomp (stomp.py) over plain TCP, driven through
 * spec/clients/python_client.py with /usr/bin/python3 (the interpreter the Debian
 * package installs into; a python3 from PATH, e.g. pyenv, does not have it).
 * CI: apt-get install -y --no-install-recommends python3-stomp
 */
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { startBroker } from '../helpers/broker.js';
import { pythonStomp, SYSTEM_PYTHON } from './adapters.js';
import { registerScenarioHandlers, runScenario } from './scenario.js';

const probe = spawnSync(SYSTEM_PYTHON, ['-c', 'import stomp; print(".".join(map(str, stomp.__version__)))'], {
  encoding: 'utf8',
  timeout: 15_000,
});
const stompPy = probe.status === 0 ? probe.stdout.trim() : null;

t.test(`stomp.py ${stompPy ?? ''} (python3-stomp) over TCP`, { skip: stompPy ? false : `${SYSTEM_PYTHON} cannot import stomp: install Debian's python3-stomp (apt-get install -y python3-stomp)` }, async (t) => {
  const b = await startBroker(t, { tcpPort: 0, tcpHost: '127.0.0.1' }, { beforeListen: registerScenarioHandlers });
  const c = pythonStomp(b.tcpPort!, '127.0.0.1', 60_000);
  try {
    await runScenario(t, b, c, { versions: ['1.2'], login: 'py' });
  } finally {
    await c.close();
    if (c.stderr.length) t.comment(`python stderr:\n${c.stderr.join('')}`);
  }
});
