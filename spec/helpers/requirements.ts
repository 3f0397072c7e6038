/**
 * System programs some tests need (installed by scripts/setup.sh). A missing
 * one fails its test with one line naming the package, unless the test run
 * opted out with the variable the README names (SKIP_BROWSER=1,
 * SKIP_PYTHON=1): nothing in the suite is skipped silently.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export interface Requirement {
  /** tap's `skip` option: the reason when opted out, else false. */
  skip: string | false;
  /** Null when available; else the line a failing test reports. */
  missing: string | null;
}

function requirement(optOut: string, available: boolean, what: string): Requirement {
  if (process.env[optOut] === '1') return { skip: `${optOut}=1`, missing: null };
  return { skip: false, missing: available ? null : `${what} (scripts/setup.sh installs it as root; ${optOut}=1 skips these tests)` };
}

export const CHROMIUM = '/usr/bin/chromium';
/** Debian's interpreter, which sees Debian's python3-stomp (a python3 on PATH may be another install). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export function chromiumRequirement(): Requirement {
  return requirement('SKIP_BROWSER', existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium`);
}

/** stomp.py's version when importable, with the requirement. */
export function pythonStompRequirement(): Requirement & { version: string | null } {
  const probe = spawnSync(SYSTEM_PYTHON, ['-c', 'import stomp; print(".".join(map(str, stomp.__version__)))'], { encoding: 'utf8', timeout: 15_000 });
  const version = probe.status === 0 ? probe.stdout.trim() : null;
  return { ...requirement('SKIP_PYTHON', version !== null, `${SYSTEM_PYTHON} cannot import stomp: install Debian's python3-stomp`), version };
}
