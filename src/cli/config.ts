import { resolve } from 'node:path';
import { FtError } from '../errors';
import { defaultConfigPath, loadConfig, type Config } from '../config/load-config';
import { connectionOptionsFrom } from '../daemon/daemon-settings';
import type { CliCommand } from './command';
import { exitStatus } from './exit-codes';
import { configUsage as usage } from './usage';
import { parseCommandArgs } from './argv';

const command: CliCommand = {
  name: 'config',
  summary: 'check the config file without starting',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('config', argv, { config: { type: 'string', short: 'c' } });
    const [sub, ...extra] = positionals;
    if (sub !== 'check' || extra.length > 0) {
      throw new FtError('USAGE', sub === undefined ? `missing subcommand.\n${usage}` : sub !== 'check' ? `unknown subcommand "${sub}".\n${usage}` : `unexpected argument "${extra[0]}".\n${usage}`);
    }
    const file = values.config ?? io.env.FTAGENT_CONFIG ?? defaultConfigPath;
    const config = await loadConfig(resolve(io.cwd, file), { env: io.env });
    // What the daemon reads at start (certificates, key): a file that can never work is a config error now.
    await connectionOptionsFrom(config);
    io.stdout.write(`config OK: ${config.source}\n${summary(config)}`);
    return exitStatus.ok;
  },
};

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
