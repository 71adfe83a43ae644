import { parseTopicInteger } from './erlang-integer';

/**
 * Topic grammar of docs/emqx-ft.md §1, in the order `emqx_ft:on_file_command` checks things, so each
 * malformed topic gets the same reason_description as on EMQX.
 */
export type FtMode = 'sync' | 'async';

export type FtCommand =
  | { kind: 'init' }
  | { kind: 'segment'; offset: bigint; /** 32 bytes, to verify the payload against. */ checksum?: Buffer }
  | { kind: 'fin'; size: bigint; /** Upper-case hex. */ checksum?: string }
  | { kind: 'abort' };

export type ParseError = 'invalid_fileid' | 'invalid_file_command' | 'invalid_offset' | 'invalid_size' | 'invalid_checksum';

export type ParsedTopic = { kind: 'command'; mode: FtMode; fileId: string; command: FtCommand } | { kind: 'error'; mode: FtMode; reason: ParseError };

const SYNC_PREFIX = '$file/';
const ASYNC_PREFIX = '$file-async/';

/** null when the topic is not a file-transfer command at all (route it normally). */
function ftMode(topic: string): FtMode | null {
  if (topic.startsWith(SYNC_PREFIX)) return 'sync';
  if (topic.startsWith(ASYNC_PREFIX)) return 'async';
  return null;
}

function parseChecksum(token: string): Buffer | null {
  // binary:decode_hex accepts either case; the length is checked in bytes first.
  return /^[0-9a-fA-F]{64}$/.test(token) ? Buffer.from(token, 'hex') : null;
}

export function parseFtTopic(topic: string): ParsedTopic | null {
  const mode = ftMode(topic);
  if (mode === null) return null;
  // emqx_topic:tokens keeps empty levels: `$file//init` has fileId "".
  const [, fileId = '', ...rest] = topic.split('/');
  const error = (reason: ParseError): ParsedTopic => ({ kind: 'error', mode, reason });
  if (fileId === '') return error('invalid_fileid');
  const ok = (command: FtCommand): ParsedTopic => ({ kind: 'command', mode, fileId, command });

  const [first, second, third] = rest;
  if (rest.length === 1 && first === 'init') return ok({ kind: 'init' });
  if (first === 'fin' && second !== undefined && rest.length <= 3) {
    const size = parseTopicInteger(second);
    if (size === null) return error('invalid_size');
    if (third === undefined) return ok({ kind: 'fin', size });
    if (parseChecksum(third) === null) return error('invalid_checksum');
    return ok({ kind: 'fin', size, checksum: third.toUpperCase() });
  }
  if (rest.length === 1 && first === 'abort') return ok({ kind: 'abort' });
  if (first !== undefined && rest.length <= 2) {
    // `fin` with no size lands here and fails as an offset (docs/emqx-ft.md §1).
    const offset = parseTopicInteger(first);
    if (offset === null) return error('invalid_offset');
    if (second === undefined) return ok({ kind: 'segment', offset });
    const checksum = parseChecksum(second);
    if (checksum === null) return error('invalid_checksum');
    return ok({ kind: 'segment', offset, checksum });
  }
  return error('invalid_file_command');
}
