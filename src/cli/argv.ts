/**
 * One way for every command to read its argv: node's parseArgs, strict, and every problem a USAGE
 * error in one wording that points at the command's --help. Values are then checked by the rules
 * of config/limits.ts (upload-flags.ts, connection-flags.ts), the same as the config's.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FtError } from '../errors';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

export function usageErrorFor(command: string): (message: string) => FtError {
  return (message) => new FtError('USAGE', `${message}. Run \`ftagent ${command} --help\` for the options`);
}

export function parseCommandArgs<O extends OptionsConfig>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageErrorFor(command)(err instanceof Error ? err.message : String(err));
  }
}
