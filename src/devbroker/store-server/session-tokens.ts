/**
 * MaxCurrentSession (docs/store-flows.md §3): per job, at most N transfers hold a token at once. A token is taken
 * when the server answers ok, returned when that transfer ends (done or failed), and reclaimed after
 * `ttlMs` in case the return was lost. The docs name no "return" message, so the server returns the
 * token itself when its nftp receiver finishes.
 */
import type { Clock } from '../../time/clock';

export interface TokenGrant {
  jobId: string;
  id: number;
  /** Gives the token back; a second call (or a call after reclaim) does nothing. */
  release(): void;
}

export class SessionTokens {
  private readonly held = new Map<string, Map<number, () => void>>();
  private readonly peaks = new Map<string, number>();
  private seq = 0;
  reclaimed = 0;

  constructor(
    private readonly clock: Clock,
    private readonly limitFor: (jobId: string) => number,
    private readonly ttlMs: number,
  ) {}

  inUse(jobId: string): number {
    return this.held.get(jobId)?.size ?? 0;
  }

  /** The most tokens the job has held at once (tests check MaxCurrentSession with it). */
  peak(jobId: string): number {
    return this.peaks.get(jobId) ?? 0;
  }

  /** A grant, or null when the job's tokens are all taken (the caller answers WAIT). */
  take(jobId: string): TokenGrant | null {
    let tokens = this.held.get(jobId);
    if (!tokens) this.held.set(jobId, (tokens = new Map<number, () => void>()));
    if (tokens.size >= this.limitFor(jobId)) return null;
    const id = ++this.seq;
    const job = tokens;
    const cancel = this.clock.after(this.ttlMs, () => {
      if (job.delete(id)) this.reclaimed++;
    });
    job.set(id, cancel);
    this.peaks.set(jobId, Math.max(this.peak(jobId), job.size));
    return {
      jobId,
      id,
      release: () => {
        const c = job.get(id);
        if (!c) return;
        c();
        job.delete(id);
      },
    };
  }

  /** Cancels every reclaim timer (broker shutdown). */
  clear(): void {
    for (const job of this.held.values()) for (const cancel of job.values()) cancel();
    this.held.clear();
  }
}
