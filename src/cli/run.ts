/**
 * `ftagent run [--config FILE]`: the daemon, until SIGTERM or SIGINT. The first signal stops it
 * cleanly (running transfers write their checkpoint and stay queued); a second one exits at once,
 * which is as safe as a power cut. Config errors exit with status 2 (systemd does not restart).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load-config';
import { Daemon } from '../daemon/daemon';
import { countingFs, type WriteCounter } from '../daemon/counting-fs';
import { acquireDaemonLock } from '../daemon/daemon-lock';
import { FtError } from '../errors';
import { createLogger } from '../log';
import { createNodeDurableFs } from '../storage/node-fs';
import type { CliCommand, CliIo } from './command';
import { exitStatus } from './exit-codes';
import { configPath } from './state-access';
import { runUsage as usage } from './usage';

/** A clean stop that hangs (a broker that never answers) must not outlive systemd's patience. */
const stopDeadlineMs = 20_000;

async function run(argv: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, strict: true }));
  } catch (err) {
    throw new FtError('USAGE', `${err instanceof Error ? err.message : String(err)}. Run \`ftagent run --help\``);
  }
  const config = await loadConfig(configPath(values.config, io), { env: io.env });
  const logger = createLogger({ level: config.log.level, fd: 1 });
  const written: WriteCounter = { files: 0, bytes: 0 };
  const fs = countingFs(createNodeDurableFs(), written);
  const release = await acquireDaemonLock(fs, config.stateDir);
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ config, fs, logger });
  } catch (err) {
    await release().catch(() => undefined);
    throw err;
  }
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals > 1) {
        logger.warn({ signal }, 'second signal: exiting now (unfinished jobs resume at the next start)');
        process.exit(exitStatus.interrupted);
      }
      logger.info({ signal }, 'stopping: checkpointing running transfers');
      const deadline = setTimeout(() => {
        logger.warn('clean stop took too long: exiting now (unfinished jobs resume at the next start)');
        process.exit(exitStatus.ok);
      }, stopDeadlineMs);
      deadline.unref();
      void daemon
        .stop()
        .catch((err: unknown) => logger.error({ err: err instanceof Error ? err.message : String(err) }, 'error while stopping'))
        .then(() => release().catch(() => undefined))
        .then(() => {
          logger.info({ stateFilesWritten: written.files, stateBytesWritten: written.bytes }, 'state directory writes since start');
          clearTimeout(deadline);
          process.removeListener('SIGTERM', onSignal);
          process.removeListener('SIGINT', onSignal);
          resolve(exitStatus.ok);
        });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

const command: CliCommand = { name: 'run', summary: 'run the agent: send queued jobs and watch folders until stopped', usage, run };
export default command;
