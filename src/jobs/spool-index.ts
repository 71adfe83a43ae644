/**
 * What the spool bound, the scheduler's priority order and the status document need to know about
 * every pending job (its priority and size), without reading each record on every poll: a job's
 * spec never changes after it is queued, so each record is read once and remembered until the job
 * leaves the pending set. Memory: one small entry per pending job, bounded by spool.maxJobs.
 */
import type { JobRecord } from '../storage/job-record';
import type { Spool } from '../storage/spool';
import { decodeQueuedOptions, type JobPriority } from './upload-job-options';

export interface JobFacts {
  file: string;
  priority: JobPriority;
  /** Bytes the job counts against spool.maxBytes (its size when queued). */
  size: number;
}

export class SpoolIndex {
  private readonly known = new Map<string, JobFacts>();

  constructor(private readonly spool: Spool) {}

  /** Facts of every id given (pending ids, oldest first); ids whose record is gone or damaged are left out. */
  async factsOf(ids: readonly string[]): Promise<Map<string, JobFacts>> {
    const wanted = new Set(ids);
    for (const id of this.known.keys()) if (!wanted.has(id)) this.known.delete(id);
    const out = new Map<string, JobFacts>();
    for (const id of ids) {
      let facts = this.known.get(id);
      if (!facts) {
        const job = await this.spool.get(id);
        if (!job) continue;
        facts = factsOfOptions(job.spec.file, job.spec.options, id);
        this.known.set(id, facts);
      }
      out.set(id, facts);
    }
    return out;
  }

  /** Pending ids and their facts, oldest first. */
  async pending(): Promise<Map<string, JobFacts>> {
    return this.factsOf(await this.spool.pendingIds());
  }
}

export function factsOfOptions(file: string, options: Record<string, unknown>, id: string): JobFacts {
  try {
    const o = decodeQueuedOptions(options, id);
    return { file, priority: o.priority ?? 'normal', size: o.queuedSize ?? 0 };
  } catch {
    // The runner fails such a job with the reason; here it simply counts as a normal one.
    return { file, priority: 'normal', size: 0 };
  }
}

/** A job's priority as recorded (normal when it says none). */
export function priorityOf(job: JobRecord): JobPriority {
  return factsOfOptions(job.spec.file, job.spec.options, job.id).priority;
}

const rank: Record<JobPriority, number> = { high: 0, normal: 1, low: 2 };

/** Ids by priority, oldest first within one priority (ids sort in enqueue order). */
export function byPriority(facts: Map<string, JobFacts>): string[] {
  return [...facts.entries()].sort(([a, fa], [b, fb]) => rank[fa.priority] - rank[fb.priority] || (a < b ? -1 : a > b ? 1 : 0)).map(([id]) => id);
}
