/**
 * The retained health document on `<prefix>/status` (README "Fleet plane"), built from the state
 * directory and what the daemon remembers since it started. `signature` is the part whose change
 * is worth a new publish: counts, the active jobs with progress in 10 % steps, last error and
 * success, the store summary; not the uptime or free space, which change all the time.
 */
import { statfs } from 'node:fs/promises';
import { isFtError } from '../errors';
import { StoreJobStore } from '../jobs/store-job-state';
import type { SpoolIndex } from '../jobs/spool-index';
import { totalBytes } from '../storage/byte-ranges';
import type { DurableFs } from '../storage/durable-fs';
import type { Spool } from '../storage/spool';
import { version } from '../version';

export interface StatusFacts {
  clientId: string;
  startedAt: number;
  lastError: { code: string; message: string; at: string; job?: string } | null;
  lastSuccessAt: string | null;
}

export interface StatusSources {
  spool: Spool;
  index: SpoolIndex;
  fs: DurableFs;
  stateDir: string;
  storeEnabled: boolean;
  running: () => string[];
  pendingEvents: () => Promise<number>;
  droppedEvents: () => number;
}

/** Active transfers listed in one document at most (maxConcurrent is at most 64, plus the high slot). */
const maxListedActive = 65;

export async function buildStatus(facts: StatusFacts, src: StatusSources, now: number): Promise<{ doc: Record<string, unknown>; signature: string }> {
  const pending = await src.index.pending();
  let bytes = 0;
  for (const f of pending.values()) bytes += f.size;
  const running = src
    .running()
    .filter((id) => pending.has(id))
    .slice(0, maxListedActive);
  const active = [];
  for (const id of running) {
    const f = pending.get(id);
    const cp = await src.spool.readCheckpoint(id).catch(() => undefined);
    const size = cp?.source.size ?? f?.size ?? 0;
    const confirmed = cp ? totalBytes(cp.confirmed) : 0;
    active.push({
      job: id,
      file: f?.file ?? null,
      priority: f?.priority ?? 'normal',
      size,
      confirmed,
      percent: size === 0 ? 0 : Math.floor((confirmed * 100) / size),
      stage: cp?.stage ?? 'starting',
    });
  }
  const store = src.storeEnabled ? await storeSummary(src.fs, src.stateDir) : null;
  const core = {
    queue: { jobs: pending.size, bytes, queued: pending.size - running.length, active: running.length },
    active,
    lastError: facts.lastError,
    lastSuccessAt: facts.lastSuccessAt,
    storeJobs: store,
    events: { pending: await src.pendingEvents(), dropped: src.droppedEvents() },
  };
  const signature = JSON.stringify({ ...core, active: active.map((a) => [a.job, a.stage, Math.floor(a.percent / 10)]) });
  const doc = {
    online: true,
    clientId: facts.clientId,
    version,
    at: new Date(now).toISOString(),
    startedAt: new Date(facts.startedAt).toISOString(),
    uptimeSeconds: Math.floor((now - facts.startedAt) / 1000),
    ...core,
    stateDir: { path: src.stateDir, ...(await freeSpace(src.stateDir)) },
  };
  return { doc, signature };
}

/** What the will says, and what a clean stop publishes (with its reason). */
export function offlineDocument(clientId: string, startedAt: number, reason: 'connection lost' | 'stopped', at?: number): Record<string, unknown> {
  return { online: false, clientId, version, startedAt: new Date(startedAt).toISOString(), reason, ...(at !== undefined ? { at: new Date(at).toISOString() } : {}) };
}

async function freeSpace(dir: string): Promise<{ freeBytes: number | null; totalBytes: number | null }> {
  try {
    const s = await statfs(dir);
    return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
  } catch {
    // statfs arrived in Node 18.15; older runtimes report no figure rather than a wrong one.
    return { freeBytes: null, totalBytes: null };
  }
}

async function storeSummary(fs: DurableFs, stateDir: string): Promise<Record<string, number>> {
  const store = new StoreJobStore(fs, stateDir);
  const { jobs, damaged } = await store.list();
  const out = { jobs: jobs.length, damaged: damaged.length, running: 0, lastRunDone: 0, lastRunFailed: 0 };
  for (const j of jobs) {
    try {
      const state = await store.readState(j.job.job_id);
      if (state.current?.state === 'running') out.running++;
      const last = state.history[state.history.length - 1];
      if (last?.state === 'done') out.lastRunDone++;
      else if (last?.state === 'failed') out.lastRunFailed++;
    } catch (err) {
      if (!isFtError(err, 'STATE_CORRUPT')) throw err;
      out.damaged++;
    }
  }
  return out;
}
