/**
 * Store-job schedules: 6-field crontab expressions with seconds (`sec min hour dom mon dow`), as the
 * store system's job `execution_time` (docs/store-flows.md §3). Parsing and matching are croner's; this file only
 * insists on six fields and computes times from a given instant, never from a clock of its own, so a
 * fake clock drives every test.
 */
import { Cron } from 'croner';
import { FtError } from '../errors';

export interface Schedule {
  readonly expression: string;
  /** The first firing strictly after `afterMs` (epoch ms), or null when there is none. */
  nextAfter(afterMs: number): number | null;
}

export function parseSchedule(expression: string, timezone?: string): Schedule {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 6) {
    throw new FtError(
      'CONFIG_INVALID',
      `execution_time "${expression}" has ${fields.length} field(s); it must have 6: seconds minutes hours day-of-month month day-of-week (e.g. "0 30 2 * * *" = every day at 02:30:00)`,
      { details: { expression } },
    );
  }
  let cron: Cron;
  try {
    cron = new Cron(fields.join(' '), { paused: true, ...(timezone ? { timezone } : {}) });
  } catch (err) {
    throw new FtError('CONFIG_INVALID', `execution_time "${expression}" is not a valid crontab expression: ${err instanceof Error ? err.message : String(err)}`, {
      details: { expression },
    });
  }
  return {
    expression,
    nextAfter(afterMs) {
      const next = cron.nextRun(new Date(afterMs));
      return next ? next.getTime() : null;
    },
  };
}
