/**
 * One daemon per state directory: two would send the same jobs twice and kick each other off the
 * broker (same client id). The lock is <stateDir>/daemon.pid, created exclusively (O_EXCL, `wx`):
 * of several daemons starting at once exactly one creates it. It names its holder precisely:
 * pid, the process's start time (/proc/<pid>/stat, clock ticks since boot), the boot id and a
 * random token. A lock is stale when that pid is gone, or now belongs to another process (pid
 * reuse after a power cut: `ftagent send`, `sleep`, anything), or was written before this boot.
 * A stale lock is removed only if it still holds the bytes that were judged stale, and the new
 * holder then reads its token back, so two starters that raced over a stale lock cannot both
 * keep it; `stillHeld()` lets the daemon re-assert it while it runs.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FtError, errnoCode } from '../errors';

export function pidFilePath(stateDir: string): string {
  return join(stateDir, 'daemon.pid');
}

interface LockHolder {
  pid: number;
  /** Field 22 of /proc/<pid>/stat; null where there is no /proc. */
  start: string | null;
  boot: string | null;
  token: string;
}

export interface DaemonLock {
  /** Whether the lock file still names this process (another start may have judged it stale). */
  stillHeld(): boolean;
  release(): void;
}

/** How long an empty lock file (a starter between create and write) is given before it is stale. */
const emptyLockGraceMs = 2000;
/** Pause before the new holder reads its token back (a racer may still be removing "its" stale lock). */
const settleMs = 100;

function readProc(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function bootId(): string | null {
  return readProc('/proc/sys/kernel/random/boot_id')?.trim() ?? null;
}

/** The start time of a process in clock ticks since boot: with the pid, it names one process. */
function processStart(pid: number): string | null {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // The command name (field 2) is in parentheses and may contain spaces: count after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user; the daemon's own user wrote the lock.
    return errnoCode(err) === 'EPERM';
  }
}

function parseHolder(text: string): LockHolder | 'legacy' | null {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return 'legacy';
  try {
    const v = JSON.parse(trimmed) as Partial<LockHolder>;
    if (typeof v.pid === 'number' && Number.isSafeInteger(v.pid) && v.pid > 0 && typeof v.token === 'string') {
      return { pid: v.pid, start: typeof v.start === 'string' ? v.start : null, boot: typeof v.boot === 'string' ? v.boot : null, token: v.token };
    }
  } catch {
    // Torn or foreign content: not a holder.
  }
  return null;
}

/** Whether the process the lock names is running now (and is that very process, not a reused pid). */
function holderAlive(h: LockHolder): boolean {
  if (!pidAlive(h.pid)) return false;
  const boot = bootId();
  if (h.boot !== null && boot !== null && h.boot !== boot) return false;
  const start = processStart(h.pid);
  if (h.start !== null && start !== null) return h.start === start;
  return true; // no /proc: the signal check is all there is
}

function readLock(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/** The pid of the live daemon holding the lock, or undefined. A pre-token lock file counts as stale. */
export function runningDaemonPid(stateDir: string): number | undefined {
  const text = readLock(pidFilePath(stateDir));
  if (text === null) return undefined;
  const holder = parseHolder(text);
  return holder !== null && holder !== 'legacy' && holderAlive(holder) ? holder.pid : undefined;
}

function createExclusive(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function unlinkIfUnchanged(path: string, judged: string): void {
  if (readLock(path) !== judged) return;
  try {
    unlinkSync(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}

function anotherDaemon(pid: number, stateDir: string): FtError {
  return new FtError('USAGE', `another ftagent daemon (pid ${pid}) already runs on state directory ${stateDir}: stop it first (systemctl stop ftagent), or give this one another stateDir`, {
    details: { pid, stateDir },
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Takes the lock or throws USAGE naming the daemon that holds it. The state directory must exist. */
export async function acquireDaemonLock(stateDir: string): Promise<DaemonLock> {
  const path = pidFilePath(stateDir);
  const mine: LockHolder = { pid: process.pid, start: processStart(process.pid), boot: bootId(), token: randomBytes(16).toString('hex') };
  const content = `${JSON.stringify(mine)}\n`;
  let emptySince: number | null = null;
  for (let round = 0; ; round++) {
    if (createExclusive(path, content)) break;
    if (round >= 50) throw new FtError('STATE_CORRUPT', `cannot take the daemon lock ${path}: it keeps changing; remove it if no daemon runs`);
    const text = readLock(path);
    if (text === null) continue;
    const holder = parseHolder(text);
    if (holder === null && text === '') {
      // Another starter created it and has not written it yet.
      emptySince ??= Date.now();
      if (Date.now() - emptySince < emptyLockGraceMs) {
        await sleep(20);
        continue;
      }
    }
    if (holder !== null && holder !== 'legacy' && holderAlive(holder)) throw anotherDaemon(holder.pid, stateDir);
    unlinkIfUnchanged(path, text);
  }
  const lock: DaemonLock = {
    stillHeld: () => readLock(path) === content,
    release: () => unlinkIfUnchanged(path, content),
  };
  await sleep(settleMs);
  if (!lock.stillHeld()) {
    const now = readLock(path);
    const holder = now === null ? null : parseHolder(now);
    throw anotherDaemon(holder !== null && holder !== 'legacy' ? holder.pid : 0, stateDir);
  }
  return lock;
}
