/**
 * One daemon per state directory: two would send the same jobs twice. The lock is a pid file,
 * <stateDir>/daemon.pid, written through the storage port. A pid file left by a killed daemon (or
 * a power cut) is stale once no live ftagent process has that pid; after a reboot the pid may
 * belong to another program, so on Linux the process's command line must mention ftagent too.
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { FtError } from '../errors';
import type { DurableFs } from '../storage/durable-fs';

export function pidFilePath(stateDir: string): string {
  return posix.join(stateDir, 'daemon.pid');
}

/** The pid of the daemon running on this state directory, or undefined. */
export async function runningDaemonPid(fs: DurableFs, stateDir: string): Promise<number | undefined> {
  const bytes = await fs.readFile(pidFilePath(stateDir));
  if (!bytes) return undefined;
  const pid = Number(new TextDecoder().decode(bytes).trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return isLiveAgent(pid) ? pid : undefined;
}

export async function acquireDaemonLock(fs: DurableFs, stateDir: string): Promise<() => Promise<void>> {
  await fs.mkdirp(stateDir);
  const other = await runningDaemonPid(fs, stateDir);
  if (other !== undefined && other !== process.pid) {
    throw new FtError('USAGE', `another ftagent daemon (pid ${other}) already runs on state directory ${stateDir}: stop it first (systemctl stop ftagent), or give this one another stateDir`);
  }
  const path = pidFilePath(stateDir);
  await fs.writeFileAtomic(path, new TextEncoder().encode(`${process.pid}\n`));
  return async () => {
    const now = await fs.readFile(path);
    if (now && Number(new TextDecoder().decode(now).trim()) === process.pid) await fs.remove(path);
  };
}

function isLiveAgent(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else; ftagent runs as one user, so not ours.
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('ftagent');
  } catch {
    return true; // no /proc: trust the signal check
  }
}
