/**
 * What a file-transfer result means for the uploader. Robust to both the EIP/docs meanings and what
 * real EMQX does (docs/emqx-ft.md §3, §7): EMQX itself only says 0x00 or 0x80 + a description;
 * 0x10 means nobody handled the command (file transfer off), 0x97 comes from the publish quota.
 */
import type { FtCommandKind } from './emqx-ft-topics';

export type FtAction =
  /** The command did what it should. */
  | 'done'
  /** Send the same command again (bounded, with backoff). */
  | 'resend'
  /** fin found missing data: send init and every segment again, then fin. */
  | 'resend-all'
  /** The broker did not handle file transfer (0x10): start over from offset 0, bounded. */
  | 'restart'
  /** Quota exceeded: wait with backoff, then send again. */
  | 'pause'
  /** The broker asks us to cancel (0x83). */
  | 'cancel'
  /** Trying again cannot help. */
  | 'reject';

export const rc = {
  success: 0x00,
  noMatchingSubscribers: 0x10,
  unspecifiedError: 0x80,
  implementationSpecificError: 0x83,
  notAuthorized: 0x87,
  topicNameInvalid: 0x90,
  packetIdInUse: 0x91,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  payloadFormatInvalid: 0x99,
} as const;

interface PolicyRow {
  rc: number | '*';
  /** Matches the broker's reason description; '*' = any (including none). */
  reason: RegExp | '*';
  commands: readonly FtCommandKind[] | '*';
  action: FtAction;
}

/** First matching row wins. */
const policy: readonly PolicyRow[] = [
  { rc: rc.success, reason: '*', commands: '*', action: 'done' },
  { rc: rc.noMatchingSubscribers, reason: '*', commands: '*', action: 'restart' },
  { rc: rc.implementationSpecificError, reason: '*', commands: '*', action: 'cancel' },
  { rc: rc.quotaExceeded, reason: '*', commands: '*', action: 'pause' },
  { rc: rc.packetIdInUse, reason: '*', commands: '*', action: 'resend' },
  { rc: rc.notAuthorized, reason: '*', commands: '*', action: 'reject' },
  { rc: rc.topicNameInvalid, reason: '*', commands: '*', action: 'reject' },
  { rc: rc.packetTooLarge, reason: '*', commands: '*', action: 'reject' },
  { rc: rc.payloadFormatInvalid, reason: '*', commands: '*', action: 'reject' },
  { rc: '*', reason: /^(filemeta_conflict|inconsistent|invalid_.*)$/, commands: '*', action: 'reject' },
  { rc: '*', reason: /^incomplete$/, commands: ['fin'], action: 'resend-all' },
  // The assembler keeps running after EMQX's assemble_timeout; a later fin finds the export.
  { rc: '*', reason: /^timeout$/, commands: ['fin'], action: 'resend' },
  // A whole-file checksum mismatch surfaces as internal_error on fin; sending the data again is the only cure.
  { rc: '*', reason: /^internal_error$/, commands: ['fin'], action: 'resend-all' },
  { rc: rc.unspecifiedError, reason: '*', commands: ['fin'], action: 'resend-all' },
  { rc: '*', reason: '*', commands: ['abort'], action: 'done' },
  // Segment errors (checksum_mismatch, disk errors, …), init disk errors, fin timeout: send again.
  { rc: '*', reason: '*', commands: '*', action: 'resend' },
];

export function actionFor(command: FtCommandKind, reasonCode: number, reason = ''): FtAction {
  if (reasonCode > 0 && reasonCode < 0x80 && reasonCode !== rc.noMatchingSubscribers) return 'done';
  for (const row of policy) {
    if (row.rc !== '*' && row.rc !== reasonCode) continue;
    if (row.reason !== '*' && !row.reason.test(reason)) continue;
    if (row.commands !== '*' && !row.commands.includes(command)) continue;
    return row.action;
  }
  return 'resend';
}

export function describeReasonCode(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  const names: Record<number, string> = {
    0x00: 'success',
    0x10: 'no matching subscribers',
    0x80: 'unspecified error',
    0x83: 'implementation specific error',
    0x87: 'not authorized',
    0x90: 'topic name invalid',
    0x91: 'packet identifier in use',
    0x95: 'packet too large',
    0x97: 'quota exceeded',
    0x99: 'payload format invalid',
  };
  const name = names[code];
  return name === undefined ? hex : `${hex} (${name})`;
}
