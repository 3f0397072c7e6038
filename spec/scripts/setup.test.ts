/**
 * The set-up scripts as a newcomer meets them: scripts/setup.sh names what is
 * missing in one line, and scripts/kafka/start.sh, started with an empty jar
 * cache (so it fetches the jars with Maven first), prints exactly one line on
 * stdout — `KAFKA_BROKERS=host:port`, which callers eval — and everything
 * else on stderr. Slow: a Maven fetch and a second Kafka broker.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

t.setTimeout(300_000);

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(join(ROOT, file), args, { env: { ...process.env, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL', cwd: ROOT }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('setup.sh --check names a missing package in one line and fails', async (t) => {
  const r = await run('scripts/setup.sh', ['--check'], { SETUP_ASSUME_MISSING: 'chromium', SKIP_BROWSER: '0' }, 30_000);
  t.equal(r.code, 1, 'exit 1');
  t.equal(r.stdout, '', 'nothing on stdout');
  const lines = r.stderr.trim().split('\n');
  t.equal(lines.length, 1, 'one line');
  t.match(lines[0], /missing .*chromium/, 'names the package');
  t.match(lines[0], /SKIP_BROWSER=1/, 'names the opt-out');
});

t.test('setup.sh --check: SKIP_BROWSER=1 (and SKIP_PYTHON=1) opt out of chromium (and python3-stomp)', async (t) => {
  const r = await run('scripts/setup.sh', ['--check'], { SETUP_ASSUME_MISSING: 'chromium', SKIP_BROWSER: '1', SKIP_PYTHON: '1' }, 30_000);
  t.equal(r.code, 0, `exit 0 (${r.stderr.trim()})`);
  t.equal(r.stdout, '', 'nothing on stdout');
});

t.test('kafka/start.sh with an empty jar cache: fetches, starts, prints only KAFKA_BROKERS on stdout', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stomp-cluster-cache-'));
  const env = {
    KAFKA_CACHE_DIR: join(dir, 'libs'),
    KAFKA_STATE_FILE: join(dir, 'kafka.state'),
    KAFKA_PARENT_PID: String(process.pid),
    KAFKA_CDS: '0',
  };
  t.teardown(async () => {
    await run('scripts/kafka/stop.sh', [env.KAFKA_STATE_FILE], { ...env, KAFKA_STOP_FAST: '1' }, 30_000);
    rmSync(dir, { recursive: true, force: true });
  });
  const r = await run('scripts/kafka/start.sh', [], env, 240_000);
  t.equal(r.code, 0, `start.sh exit 0${r.code === 0 ? '' : `: ${r.stderr.slice(-2000)}`}`);
  t.match(r.stdout, /^KAFKA_BROKERS=127\.0\.0\.1:\d+\n$/, 'stdout is exactly one KAFKA_BROKERS line (safe to eval)');
  t.match(r.stderr, /fetching Kafka .* jars/, 'the fetch was reported on stderr');
  t.match(r.stderr, /ready in/, 'readiness reported on stderr');
});
