import { readFileSync } from 'node:fs';
import { createLogger } from '../log';
import { version } from '../version';
import { parseBrokerArgs, usage, type BrokerCliOptions } from './cli-options';
import { startBroker, type BrokerOptions } from './index';
import { pushCommand } from './push-command';

/**
 * ftbroker: the development broker as a process, or `ftbroker push …` against a running one.
 * Broker: exit 0 on --help/--version/a signal, 2 on bad flags, 1 if it cannot start.
 */
async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'push') return pushCommand(argv.slice(1), { stdout: process.stdout, stderr: process.stderr });
  const command = parseBrokerArgs(argv);
  if (command.kind === 'help') {
    process.stdout.write(usage);
    return 0;
  }
  if (command.kind === 'version') {
    process.stdout.write(`ftbroker ${version}\n`);
    return 0;
  }
  if (command.kind === 'usage-error') {
    process.stderr.write(`ftbroker: ${command.message}\n\n${usage}`);
    return 2;
  }

  const cli = command.options;
  const log = createLogger({ level: cli.logLevel, fd: 1 });
  let options: BrokerOptions;
  try {
    options = toBrokerOptions(cli);
  } catch (err) {
    process.stderr.write(`ftbroker: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  let broker: Awaited<ReturnType<typeof startBroker>>;
  try {
    broker = await startBroker({ ...options, logger: log });
  } catch (err) {
    // Port in use, address not available, unwritable --data or --audit: say which and stop.
    process.stderr.write(`ftbroker: cannot start on ${cli.host}:${cli.port}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  // store: false when off, else the settings changed from the store server's defaults ({} for none).
  log.info({ port: broker.port, host: cli.host, tls: cli.tls !== undefined, dataDir: cli.dataDir, faults: cli.faults, store: cli.store ?? {}, version }, 'listening');

  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      log.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  await broker.stop();
  log.info('stopped');
  return 0;
}

function toBrokerOptions(cli: BrokerCliOptions): BrokerOptions {
  const read = (flag: string, file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`${flag} ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  return {
    port: cli.port,
    host: cli.host,
    dataDir: cli.dataDir,
    faults: cli.faults,
    logLevel: cli.logLevel,
    ...(cli.tls
      ? {
          tls: {
            cert: read('--tls-cert', cli.tls.certFile),
            key: read('--tls-key', cli.tls.keyFile),
            ...(cli.tls.caFile !== undefined ? { ca: read('--tls-ca', cli.tls.caFile) } : {}),
            requestClientCert: cli.tls.verifyClient,
          },
        }
      : {}),
    ...(cli.users ? { users: cli.users } : {}),
    ...(cli.receiveMaximum !== undefined ? { receiveMaximum: cli.receiveMaximum } : {}),
    ...(cli.emqx !== undefined ? { emqx: cli.emqx } : {}),
    ...(cli.maximumPacketSize !== undefined ? { maximumPacketSize: cli.maximumPacketSize } : {}),
    ...(cli.auditLog !== undefined ? { auditLog: cli.auditLog } : {}),
    ...(cli.sink ? { sink: true } : {}),
    ...(cli.store !== undefined ? { store: cli.store } : {}),
  };
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    process.stderr.write(`ftbroker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
