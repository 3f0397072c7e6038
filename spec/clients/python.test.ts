/**
 * Client matrix: Debian's python3-stomp (stomp.py) over plain TCP, driven through
 * spec/clients/python_client.py with /usr/bin/python3 (the interpreter the Debian
 * package installs into; a python3 from PATH, e.g. pyenv, does not have it).
 * scripts/setup.sh installs python3-stomp; SKIP_PYTHON=1 opts out (a missing stomp.py fails the test otherwise).
 */
import t from 'tap';
import { startBroker } from '../helpers/broker.js';
import { pythonStomp } from './adapters.js';
import { pythonStompRequirement } from '../helpers/requirements.js';
import { registerScenarioHandlers, runScenario } from './scenario.js';

const py = pythonStompRequirement();

t.test(`stomp.py ${py.version ?? ''} (python3-stomp) over TCP`, { skip: py.skip }, async (t) => {
  if (py.missing) return void t.fail(py.missing);
  const b = await startBroker(t, { tcpPort: 0, tcpHost: '127.0.0.1' }, { beforeListen: registerScenarioHandlers });
  const c = pythonStomp(b.tcpPort!, '127.0.0.1', 60_000);
  try {
    await runScenario(t, b, c, { versions: ['1.2'], login: 'py' });
  } finally {
    await c.close();
    if (c.stderr.length) t.comment(`python stderr:\n${c.stderr.join('')}`);
  }
});
