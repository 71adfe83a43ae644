/**
 * Store-job schedules: the job's `execution_time` as standard 5-field crontab
 * (`min hour dom mon dow`) or with seconds in front (`sec min hour dom mon dow`, as the store
 * system's docs write it; docs/store-flows.md §3), in an IANA time zone. Parsing and matching are croner's; this
 * file checks the field count and the zone, and computes times from a given instant, never from a
 * clock of its own, so a fake clock drives every test.
 */
import { Cron } from 'croner';
import { FtError } from '../errors';

export interface Schedule {
  readonly expression: string;
  /** The first firing strictly after `afterMs` (epoch ms), or null when there is none. */
  nextAfter(afterMs: number): number | null;
}

/** What is wrong with a time zone name, or undefined when this system knows it. */
export function timezoneProblem(timezone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return undefined;
  } catch {
    return `is "${timezone}", which is not a time zone this system knows: use an IANA name such as "Europe/Paris", "Asia/Shanghai" or "UTC", or leave it out for the system's zone`;
  }
}

export function parseSchedule(expression: string, timezone?: string): Schedule {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new FtError(
      'CONFIG_INVALID',
      `execution_time "${expression}" has ${fields.length} field(s); it must have 5 (minutes hours day-of-month month day-of-week, e.g. "30 2 * * *") ` +
        'or 6 with seconds first (e.g. "0 30 2 * * *"); both mean every day at 02:30:00',
      { details: { expression } },
    );
  }
  if (timezone !== undefined) {
    const problem = timezoneProblem(timezone);
    if (problem) throw new FtError('CONFIG_INVALID', `timezone ${problem}`, { details: { timezone } });
  }
  // A 5-field crontab fires at second 0 of its minute.
  const six = fields.length === 5 ? ['0', ...fields] : fields;
  let cron: Cron;
  try {
    cron = new Cron(six.join(' '), { paused: true, ...(timezone ? { timezone } : {}) });
    // Some problems only show when croner first computes a time.
    cron.nextRun(new Date(0));
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
