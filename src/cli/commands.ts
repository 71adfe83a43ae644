import type { CliCommand } from './command';

/** The usage texts live in their own light module (./usage), loaded only for `--help`. */
type UsageTexts = typeof import('./usage');
const usageOf = (key: keyof UsageTexts) => async (): Promise<string> => (await import('./usage'))[key];

/**
 * Commands load on demand: `ftagent --version` must not pay for mqtt.js, `send` must not pay for
 * the daemon, and `ftagent CMD --help` pays for neither (it loads only `usage`). Each entry is a
 * lazy import of a module whose default export is a CliCommand.
 */
export const commands: Record<string, { summary: string; usage: () => Promise<string>; load: () => Promise<{ default: CliCommand }> }> = {
  send: { summary: 'upload one file to the broker and exit when it is there', usage: usageOf('sendUsage'), load: () => import('./send') },
  fetch: { summary: 'download one file from the store server (fetch REMOTE --to LOCAL)', usage: usageOf('fetchUsage'), load: () => import('./fetch') },
  run: { summary: 'run the agent: send queued jobs and watch folders until stopped', usage: usageOf('runUsage'), load: () => import('./run') },
  status: { summary: 'show queued, active, done and failed jobs (status [JOB] [--json])', usage: usageOf('statusUsage'), load: () => import('./status') },
  cancel: { summary: 'cancel a queued or active job (cancel JOB)', usage: usageOf('cancelUsage'), load: () => import('./cancel') },
  config: { summary: 'check the config file without starting (config check [--config FILE])', usage: usageOf('configUsage'), load: () => import('./config') },
  job: { summary: 'add, list or remove scheduled store jobs (job add FILE | list [--json] | remove ID)', usage: usageOf('jobUsage'), load: () => import('./job') },
};
