/**
 * How the queue commands (send --queue, status, cancel) reach the daemon's state directory: the
 * same config file the daemon reads (--config FILE, else $FTAGENT_CONFIG, else the default).
 */
import { resolve } from 'node:path';
import { defaultConfigPath, loadConfig, type Config } from '../config/load-config';
import { runningDaemonPid } from '../daemon/daemon-lock';
import { createNodeDurableFs } from '../storage/node-fs';
import { Spool } from '../storage/spool';
import type { DurableFs } from '../storage/durable-fs';
import type { CliIo } from './command';

export interface StateAccess {
  config: Config;
  fs: DurableFs;
  spool: Spool;
  /** The pid of the daemon using this state directory, if one runs. */
  daemonPid(): Promise<number | undefined>;
}

export function configPath(flag: string | undefined, io: CliIo): string {
  return resolve(io.cwd, flag ?? io.env.FTAGENT_CONFIG ?? defaultConfigPath);
}

export async function openState(configFlag: string | undefined, io: CliIo): Promise<StateAccess> {
  const config = await loadConfig(configPath(configFlag, io), { env: io.env });
  const fs = createNodeDurableFs();
  const spool = await Spool.open(fs, config.stateDir, { retention: config.retention.finishedJobs });
  return { config, fs, spool, daemonPid: async () => runningDaemonPid(config.stateDir) };
}
