import type { CliCommand } from './command';

/**
 * Commands load on demand: `ftagent --version` must not pay for mqtt.js, and `send` must not pay
 * for the daemon. Each entry is a lazy import of a module whose default export is a CliCommand.
 */
export const commands: Record<string, { summary: string; load: () => Promise<{ default: CliCommand }> }> = {
  config: { summary: 'check the config file without starting (config check [--config FILE])', load: () => import('./config') },
};
