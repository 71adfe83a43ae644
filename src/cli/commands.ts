import type { CliCommand } from './command';

/**
 * Commands load on demand: `ftagent --version` must not pay for mqtt.js, and `send` must not pay
 * for the daemon. Each entry is a lazy import of a module whose default export is a CliCommand.
 */
export const commands: Record<string, { summary: string; load: () => Promise<{ default: CliCommand }> }> = {
  send: { summary: 'upload one file to the broker and exit when it is there', load: () => import('./send') },
  fetch: { summary: 'download one file from the store server (fetch REMOTE --to LOCAL)', load: () => import('./fetch') },
  run: { summary: 'run the agent: send queued jobs and watch folders until stopped', load: () => import('./run') },
  status: { summary: 'show queued, active, done and failed jobs (status [JOB] [--json])', load: () => import('./status') },
  cancel: { summary: 'cancel a queued or active job (cancel JOB)', load: () => import('./cancel') },
  config: { summary: 'check the config file without starting (config check [--config FILE])', load: () => import('./config') },
  job: { summary: 'add, list or remove scheduled store jobs (job add FILE | list [--json] | remove ID)', load: () => import('./job') },
};
