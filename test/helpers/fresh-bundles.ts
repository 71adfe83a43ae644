import { execFileSync } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const repoRoot = join(__dirname, '../..');
export const agentBundle = join(repoRoot, 'dist', 'ftagent.js');
export const brokerBundle = join(repoRoot, 'dist', 'ftbroker.js');

async function newestSourceMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? await newestSourceMtime(path) : (await stat(path)).mtimeMs);
  }
  return newest;
}

/**
 * Builds dist/ only when a source file is newer than a bundle. `npm test` builds before the tests
 * run, so no test rewrites a bundle another test worker may be executing at that moment.
 */
export async function ensureFreshBundles(): Promise<void> {
  const built = Math.min(
    ...(await Promise.all(
      [agentBundle, brokerBundle].map((b) =>
        stat(b).then(
          (s) => s.mtimeMs,
          () => 0,
        ),
      ),
    )),
  );
  if (built < (await newestSourceMtime(join(repoRoot, 'src')))) {
    execFileSync(process.execPath, [join(repoRoot, 'scripts', 'build.mjs')], { cwd: repoRoot, stdio: 'pipe' });
  }
}
