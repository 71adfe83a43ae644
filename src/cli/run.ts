/**
 * `ftagent run [--config FILE]`: the daemon, until SIGTERM or SIGINT. The first signal stops it
 * cleanly (running transfers write their checkpoint and stay queued); a second one exits at once,
 * which is as safe as a power cut. Config errors exit with status 2 (systemd does not restart).
 */
import { loadConfig } from '../config/load-config';
import { Daemon } from '../daemon/daemon';
import { countingFs, type WriteCounter } from '../daemon/counting-fs';
import { acquireDaemonLock } from '../daemon/daemon-lock';
import { createLogger } from '../log';
import { createNodeDurableFs } from '../storage/node-fs';
import type { CliCommand, CliIo } from './command';
import { exitStatus } from './exit-codes';
import { configPath } from './state-access';
import { runUsage as usage } from './usage';
import { parseCommandArgs, usageErrorFor } from './argv';

/** A clean stop that hangs (a broker that never answers) must not outlive systemd's patience. */
const stopDeadlineMs = 20_000;
/** How often the daemon checks that the lock file still names it. */
const lockCheckMs = 5000;

async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('run', argv, { config: { type: 'string', short: 'c' } });
  if (positionals.length > 0) throw usageErrorFor('run')(`unexpected argument "${positionals[0]}"`);
  const config = await loadConfig(configPath(values.config, io), { env: io.env });
  const logger = createLogger({ level: config.log.level, fd: 1 });
  const written: WriteCounter = { files: 0, bytes: 0 };
  const fs = countingFs(createNodeDurableFs(), written);
  await fs.mkdirp(config.stateDir);
  const lock = await acquireDaemonLock(config.stateDir);
  const release = async (): Promise<void> => lock.release();
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ config, fs, logger });
  } catch (err) {
    await release().catch(() => undefined);
    throw err;
  }
  return new Promise<number>((resolve) => {
    let signals = 0;
    let status: number = exitStatus.ok;
    // Another start that judged our lock stale (it cannot, unless the file was tampered with) must not
    // leave two daemons: the one whose token is gone stops.
    const lockCheck = setInterval(() => {
      if (lock.stillHeld()) return;
      logger.error({ stateDir: config.stateDir }, 'the daemon lock no longer names this process: another daemon took the state directory; stopping');
      status = exitStatus.usage;
      onSignal('SIGTERM');
    }, lockCheckMs);
    lockCheck.unref();
    const onSignal = (signal: NodeJS.Signals): void => {
      clearInterval(lockCheck);
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
          resolve(status);
        });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

const command: CliCommand = { name: 'run', summary: 'run the agent: send queued jobs and watch folders until stopped', usage, run };
export default command;
