/**
 * Topic grammar of EMQX "File Transfer over MQTT" (docs/emqx-ft.md §1). Pure: builds the command
 * topics the agent publishes and parses them back (tests, the response matcher, the dev broker).
 */

export type FtMode = 'sync' | 'async';

export type FtCommand = { kind: 'init' } | { kind: 'segment'; offset: number; checksum?: string } | { kind: 'fin'; size: number; checksum?: string } | { kind: 'abort' };

export type FtCommandKind = FtCommand['kind'];

const prefixes: Record<FtMode, string> = { sync: '$file', async: '$file-async' };

export function responseTopic(clientId: string): string {
  return `$file-response/${clientId}`;
}

/** Why a file id cannot be used as one topic level, or null when it can. */
export function fileIdProblem(fileId: string): string | null {
  if (fileId.length === 0) return 'the file id is empty';
  if (/[/+#\u0000]/.test(fileId)) return 'the file id contains "/", "+", "#" or NUL, which cannot be one MQTT topic level';
  if (Buffer.byteLength(fileId, 'utf8') > 200) return 'the file id is longer than 200 bytes';
  return null;
}

function assertOffset(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative safe integer, got ${n}`);
}

function assertChecksum(hex: string | undefined): void {
  if (hex !== undefined && !/^[0-9a-fA-F]{64}$/.test(hex)) throw new RangeError('a checksum must be 64 hex characters (SHA-256)');
}

export function commandTopic(mode: FtMode, fileId: string, command: FtCommand): string {
  const base = `${prefixes[mode]}/${fileId}`;
  switch (command.kind) {
    case 'init':
      return `${base}/init`;
    case 'abort':
      return `${base}/abort`;
    case 'segment':
      assertOffset(command.offset, 'offset');
      assertChecksum(command.checksum);
      return command.checksum === undefined ? `${base}/${command.offset}` : `${base}/${command.offset}/${command.checksum}`;
    case 'fin':
      assertOffset(command.size, 'size');
      assertChecksum(command.checksum);
      return command.checksum === undefined ? `${base}/fin/${command.size}` : `${base}/fin/${command.size}/${command.checksum}`;
  }
}

export interface ParsedCommandTopic {
  mode: FtMode;
  fileId: string;
  command: FtCommand;
}

const decimal = /^(0|[1-9][0-9]*)$/;
const hex64 = /^[0-9a-fA-F]{64}$/;

/** Parses the topics this agent produces (canonical decimals). Returns null for anything else. */
export function parseCommandTopic(topic: string): ParsedCommandTopic | null {
  const levels = topic.split('/');
  const [prefix, fileId, ...rest] = levels;
  const mode: FtMode | null = prefix === '$file' ? 'sync' : prefix === '$file-async' ? 'async' : null;
  if (mode === null || fileId === undefined || fileId === '') return null;
  const [a, b, c] = rest;
  if (rest.length === 1 && a === 'init') return { mode, fileId, command: { kind: 'init' } };
  if (rest.length === 1 && a === 'abort') return { mode, fileId, command: { kind: 'abort' } };
  if (a === 'fin' && b !== undefined && decimal.test(b) && rest.length <= 3) {
    if (c !== undefined && !hex64.test(c)) return null;
    const size = Number(b);
    if (!Number.isSafeInteger(size)) return null;
    return { mode, fileId, command: c === undefined ? { kind: 'fin', size } : { kind: 'fin', size, checksum: c } };
  }
  if (a !== undefined && decimal.test(a) && rest.length <= 2) {
    if (b !== undefined && !hex64.test(b)) return null;
    const offset = Number(a);
    if (!Number.isSafeInteger(offset)) return null;
    return { mode, fileId, command: b === undefined ? { kind: 'segment', offset } : { kind: 'segment', offset, checksum: b } };
  }
  return null;
}
