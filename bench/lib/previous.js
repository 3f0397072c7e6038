// An earlier version of the broker, built once from git into a temp directory,
// so a benchmark can measure it in the same run as this checkout's dist/
// (--previous REF). The build is kept (keyed by commit) for later runs.
import { execFileSync, execSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { log } from './util.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `{ sha, dist }` (dist: the build's dist/ directory, with a trailing separator), or `{ reason }` when it cannot be built. */
export function buildPrevious(ref) {
  let sha;
  try {
    sha = execFileSync('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd: ROOT }).toString().trim();
  } catch {
    return { sha: null, dist: null, reason: `git does not know ${ref} here (a shallow clone?)` };
  }
  const dir = path.join(os.tmpdir(), `stomp-cluster-build-${sha.slice(0, 12)}`);
  const dist = path.join(dir, 'dist');
  if (!existsSync(path.join(dist, 'index.js'))) {
    log(`building ${ref} (${sha.slice(0, 12)}) into ${dir}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execSync(`git archive ${sha} src tsconfig.json package.json | tar -x -C ${JSON.stringify(dir)}`, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    execFileSync(path.join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  }
  return { sha, dist: `${dist}${path.sep}`, reason: null };
}
