import { exitCodeOf, exitStatus } from './exit-codes';
import { processIo, writeJsonFailure, type CliIo } from './command';
import { commands } from './commands';
import { version } from '../version';
import { FtError } from '../errors';

function topLevelHelp(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length), 4);
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    `ftagent ${version}: file-transfer agent for store gateways (EMQX File Transfer over MQTT)`,
    '',
    'Usage: ftagent <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  --version   print the version and exit',
    '  --help      print this help, or `ftagent <command> --help` for a command',
    '',
  ].join('\n');
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    io.stdout.write(topLevelHelp());
    return first === undefined ? exitStatus.usage : exitStatus.ok;
  }
  if (first === '--version' || first === '-v') {
    io.stdout.write(`${version}\n`);
    return exitStatus.ok;
  }
  const entry = commands[first];
  if (!entry) {
    io.stderr.write(`ftagent: unknown command "${first}". Run \`ftagent --help\` for the list.\n`);
    return exitStatus.usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    // Help must not load the command (for `send`: mqtt.js and the whole upload engine).
    io.stdout.write(`${(await entry.usage()).trimEnd()}\n`);
    return exitStatus.ok;
  }
  const command = (await entry.load()).default;
  try {
    return await command.run(rest, io);
  } catch (err) {
    // With --json every exit prints exactly one object, usage errors and missing files included.
    if (jsonCommands.has(first) && rest.includes('--json')) writeJsonFailure(io, err);
    io.stderr.write(`ftagent ${first}: ${describeError(err)}\n`);
    return exitCodeOf(err);
  }
}

/** Commands whose --json output scripts read. */
const jsonCommands = new Set(['send', 'fetch', 'status', 'job']);

export function describeError(err: unknown): string {
  if (err instanceof FtError) return `${err.message} [${err.code}]`;
  if (err instanceof Error) return err.stack ?? err.message;
  return String(err);
}
