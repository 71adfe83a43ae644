import { resolve } from 'node:path';
import { FtError } from '../errors';
import { defaultConfigPath, loadConfig, type Config } from '../config/load-config';
import { connectionOptionsFrom } from '../daemon/daemon-settings';
import type { CliCommand } from './command';
import { exitStatus } from './exit-codes';
import { configUsage as usage } from './usage';

const command: CliCommand = {
  name: 'config',
  summary: 'check the config file without starting',
  usage,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub !== 'check') {
      throw new FtError('USAGE', sub === undefined ? `missing subcommand.\n${usage}` : `unknown subcommand "${sub}".\n${usage}`);
    }
    const file = configPathFrom(rest, io.env);
    const config = await loadConfig(resolve(io.cwd, file), { env: io.env });
    // What the daemon reads at start (certificates, key): a file that can never work is a config error now.
    await connectionOptionsFrom(config);
    io.stdout.write(`config OK: ${config.source}\n${summary(config)}`);
    return exitStatus.ok;
  },
};

function configPathFrom(argv: string[], env: NodeJS.ProcessEnv): string {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--config' || arg === '-c') {
      file = argv[++i];
      if (file === undefined) throw new FtError('USAGE', '--config needs a file name');
    } else if (arg.startsWith('--config=')) {
      file = arg.slice('--config='.length);
    } else {
      throw new FtError('USAGE', `unknown option "${arg}".\n${usage}`);
    }
  }
  return file ?? env.FTAGENT_CONFIG ?? defaultConfigPath;
}

/** What a person checking a device wants to see; never the password itself. */
function summary(c: Config): string {
  const auth = c.username === undefined ? 'none' : `user ${c.username}, password ${c.password === undefined ? 'not set' : 'set'}`;
  const lines = [
    `brokers:     ${c.brokers.join(', ')}`,
    `client id:   ${c.clientId}`,
    `mqtt:        ${c.mqtt.version}, ${c.mqtt.mode} mode, keepalive ${c.mqtt.keepalive}s`,
    `auth:        ${auth}${c.tls.insecure ? ', TLS verification OFF' : ''}`,
    `upload:      chunk ${c.upload.chunkSize === undefined ? 'from the broker' : `${c.upload.chunkSize} B`}, window ${c.upload.window ?? `from the broker within ${c.upload.memoryBudget} B`}, fin timeout ${c.upload.finTimeoutSeconds}s`,
    `state dir:   ${c.stateDir} (checkpoint every ${c.checkpoint.everyBytes} B or ${c.checkpoint.everyMs} ms, keep ${c.retention.finishedJobs} finished)`,
    `concurrency: ${c.maxConcurrent}${c.maxBytesPerSecond > 0 ? `, at most ${c.maxBytesPerSecond} bytes/s` : ''}`,
    `watch:       ${c.watch.length === 0 ? 'none' : c.watch.map((w) => `${w.dir}/${w.pattern}`).join(', ')}`,
    `log level:   ${c.log.level}`,
  ];
  return `${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

export default command;
