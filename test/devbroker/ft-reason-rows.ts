/**
 * The rows of docs/emqx-ft.md §3's reason-code table that ft-reason-table.test.ts runs against the
 * development broker: per row, what is sent, the acknowledgement expected in each mode, the
 * `$file-response`, and what must (not) have been stored.
 */
import type { BrokerFaults } from '../../src/devbroker/types';
import { sha256Hex } from './ft-harness';

export type Mode = 'sync' | 'async';
export type Protocol = 4 | 5;

/** Broker fault settings; a describe block starts one broker per profile its rows use. */
export const PROFILES = {
  plain: {},
  /** Assembly takes a while, so a fin's result clearly comes after a later command's. */
  slow: { assemblyDelayMs: 150 },
  /** assemble_timeout shorter than the assembly. */
  timeout: { assembleTimeoutMs: 40, assemblyDelayMs: 400 },
  disabled: { fileTransferDisabled: true },
  quota: { segmentQuotaRate: 1 },
} satisfies Record<string, BrokerFaults>;
export type Profile = keyof typeof PROFILES;

export const OK = 0x00;
export const ERR = 0x80;
export const NO_MATCHING_SUBSCRIBERS = 0x10;
export const QUOTA_EXCEEDED = 0x97;

/** `{p}` in a topic stands for `$file` or `$file-async`, as in the spec. */
export interface Command {
  topic: string;
  payload?: string;
  qos?: 0 | 1 | 2;
}

/** The acknowledgement's reason code (PUBACK for QoS 1, PUBREC for QoS 2), or none at all (QoS 0). */
export type Ack = number | 'no ack';
export type Response = { code: 0 | 128; description: string } | 'no response';
export type Order = 'before' | 'after';

export interface Row {
  situation: string;
  broker?: Profile;
  /** Commands that must each succeed (0x00 on MQTT 5, `success` response) before the one under test. */
  setup?: Command[];
  command: Command;
  sync: Ack;
  async: Ack;
  response: Response;
  /**
   * Sent right after the command, before its acknowledgement: where the command's acknowledgement
   * (per mode) and its response arrive relative to this one's.
   */
  meanwhile?: { command: Command; ack: Record<Mode, Order>; response: Order };
  /** Follow-up commands and the reason_description each must get (shows what was or was not stored). */
  then?: { command: Command; description: string }[];
  /** The file the command exported. */
  exported?: { fileId: string; name: string; content: string };
}

export const cmd = (topic: string, payload?: string, qos?: 0 | 1 | 2): Command => ({
  topic,
  ...(payload !== undefined ? { payload } : {}),
  ...(qos !== undefined ? { qos } : {}),
});
export const init = (fileId: string, meta: Record<string, unknown>): Command => cmd(`{p}/${fileId}/init`, JSON.stringify(meta));
export const ok: Response = { code: 0, description: 'success' };
export const error = (description: string): Response => ({ code: 128, description });

export const META = { name: 'a.txt', size: 3 };
export const LONG_ID = 'x'.repeat(300); // longer than a directory name may be
export const ABC = sha256Hex('abc');
export const XYZ = sha256Hex('xyz');
export const OTHER = cmd('{p}/other/abort');

export const ROWS: Row[] = [
  // init stored (new, or identical re-init)
  { situation: 'A first init is stored and answered with success.', command: init('f1', META), sync: OK, async: OK, response: ok },
  {
    situation: 'An init identical to the stored one is accepted again with success.',
    setup: [init('f1', META)],
    command: init('f1', META),
    sync: OK,
    async: OK,
    response: ok,
  },
  // init: bad JSON / schema / name rules
  { situation: 'An init that is not valid JSON is refused as invalid_filemeta_json.', command: cmd('{p}/f1/init', '{"name":'), sync: ERR, async: ERR, response: error('invalid_filemeta_json') },
  { situation: 'An init that is a JSON string is refused as invalid_filemeta_json.', command: cmd('{p}/f1/init', '"a.txt"'), sync: ERR, async: ERR, response: error('invalid_filemeta_json') },
  { situation: 'An init without the required name is refused as invalid_filemeta.', command: init('f1', { size: 3 }), sync: ERR, async: ERR, response: error('invalid_filemeta') },
  { situation: 'An init with a negative size is refused as invalid_filemeta.', command: init('f1', { name: 'a.txt', size: -1 }), sync: ERR, async: ERR, response: error('invalid_filemeta') },
  { situation: 'An init whose name contains a slash is refused as invalid_filemeta.', command: init('f1', { name: 'dir/a.txt' }), sync: ERR, async: ERR, response: error('invalid_filemeta') },
  {
    situation: 'An init whose name is longer than 240 bytes is refused as invalid_filemeta.',
    command: init('f1', { name: 'n'.repeat(241) }),
    sync: ERR,
    async: ERR,
    response: error('invalid_filemeta'),
  },
  // init: different meta for the same clientId+fileId
  {
    situation: 'A re-init that differs from the stored meta only in size is refused as filemeta_conflict.',
    setup: [init('f1', META)],
    command: init('f1', { ...META, size: 4 }),
    sync: ERR,
    async: ERR,
    response: error('filemeta_conflict'),
  },
  // init/segment: disk error
  {
    situation: 'An init whose fileId is too long for a directory name fails with the POSIX error enametoolong.',
    command: init(LONG_ID, META),
    sync: ERR,
    async: ERR,
    response: error('enametoolong'),
  },
  {
    situation: 'A segment whose fileId is too long for a directory name fails with the POSIX error enametoolong.',
    command: cmd(`{p}/${LONG_ID}/0`, 'abc'),
    sync: ERR,
    async: ERR,
    response: error('enametoolong'),
  },
  // segment stored (incl. duplicate, empty, negative offset, offset beyond the size)
  { situation: 'A segment after init is stored and answered with success.', setup: [init('f1', META)], command: cmd('{p}/f1/0', 'abc'), sync: OK, async: OK, response: ok },
  { situation: 'A segment sent before any init is stored and answered with success.', command: cmd('{p}/f1/0', 'abc'), sync: OK, async: OK, response: ok },
  {
    situation: 'A duplicate segment is stored again and answered with success.',
    setup: [init('f1', META), cmd('{p}/f1/0', 'abc')],
    command: cmd('{p}/f1/0', 'abc'),
    sync: OK,
    async: OK,
    response: ok,
  },
  { situation: 'An empty segment is stored and answered with success.', setup: [init('f1', META)], command: cmd('{p}/f1/3', ''), sync: OK, async: OK, response: ok },
  { situation: 'A segment with a negative offset is accepted with success.', setup: [init('f1', META)], command: cmd('{p}/f1/-5', 'x'), sync: OK, async: OK, response: ok },
  {
    situation: 'A segment beyond the size announced in init is stored and answered with success.',
    setup: [init('f1', META)],
    command: cmd('{p}/f1/100', 'zz'),
    sync: OK,
    async: OK,
    response: ok,
  },
  {
    situation: 'A segment whose checksum level matches its payload is stored and answered with success.',
    setup: [init('f1', META)],
    command: cmd(`{p}/f1/0/${ABC}`, 'abc'),
    sync: OK,
    async: OK,
    response: ok,
  },
  // segment: checksum level present but wrong
  {
    situation: 'A segment whose checksum level does not match its payload is refused as checksum_mismatch and not stored.',
    setup: [init('f1', META)],
    command: cmd(`{p}/f1/0/${XYZ}`, 'abc'),
    sync: ERR,
    async: ERR,
    response: error('checksum_mismatch'),
    then: [{ command: cmd('{p}/f1/fin/3'), description: 'incomplete' }],
  },
  // segment: bad offset / bad checksum format
  { situation: 'A segment with a non-numeric offset is refused as invalid_offset.', command: cmd('{p}/f1/abc', 'x'), sync: ERR, async: ERR, response: error('invalid_offset') },
  { situation: 'A fin without a size is taken for a segment and refused as invalid_offset.', command: cmd('{p}/f1/fin'), sync: ERR, async: ERR, response: error('invalid_offset') },
  {
    situation: 'A segment whose checksum is shorter than 64 characters is refused as invalid_checksum.',
    command: cmd('{p}/f1/0/abc123', 'x'),
    sync: ERR,
    async: ERR,
    response: error('invalid_checksum'),
  },
  {
    situation: 'A segment whose 64-character checksum is not hex is refused as invalid_checksum.',
    command: cmd(`{p}/f1/0/${'g'.repeat(64)}`, 'x'),
    sync: ERR,
    async: ERR,
    response: error('invalid_checksum'),
  },
  // empty fileId
  { situation: 'A command with an empty fileId is refused as invalid_fileid.', command: cmd('{p}//init', JSON.stringify(META)), sync: ERR, async: ERR, response: error('invalid_fileid') },
  // unknown command / too many levels
  { situation: 'A topic with a fileId but no command is refused as invalid_file_command.', command: cmd('{p}/f1'), sync: ERR, async: ERR, response: error('invalid_file_command') },
  { situation: 'A fin with too many levels is refused as invalid_file_command.', command: cmd('{p}/f1/fin/1/x/y'), sync: ERR, async: ERR, response: error('invalid_file_command') },
  { situation: 'A segment with too many levels is refused as invalid_file_command.', command: cmd(`{p}/f1/0/${ABC}/x`, 'abc'), sync: ERR, async: ERR, response: error('invalid_file_command') },
  // fin: bad size / bad checksum format (immediate)
  { situation: 'A fin with a non-numeric size is refused at once as invalid_size.', command: cmd('{p}/f1/fin/three'), sync: ERR, async: ERR, response: error('invalid_size') },
  { situation: 'A fin whose checksum is not 64 hex characters is refused at once as invalid_checksum.', command: cmd('{p}/f1/fin/3/abc'), sync: ERR, async: ERR, response: error('invalid_checksum') },
  // fin: transfer already exported (re-fin)
  {
    situation: 'A fin for a transfer already exported succeeds again without waiting for an assembly.',
    broker: 'slow',
    setup: [init('f1', META), cmd('{p}/f1/0', 'abc'), cmd('{p}/f1/fin/3')],
    command: cmd('{p}/f1/fin/3'),
    sync: OK,
    async: OK,
    response: ok,
    meanwhile: { command: OTHER, ack: { sync: 'before', async: 'before' }, response: 'before' },
  },
  // fin: assembly started, then succeeds
  {
    situation: 'A fin that assembles the file succeeds, acknowledged in sync mode only once the file is exported.',
    broker: 'slow',
    setup: [init('f1', { ...META, checksum: ABC }), cmd('{p}/f1/0', 'ab'), cmd('{p}/f1/2', 'c')],
    command: cmd('{p}/f1/fin/3'),
    sync: OK,
    async: OK,
    response: ok,
    meanwhile: { command: OTHER, ack: { sync: 'after', async: 'before' }, response: 'after' },
    exported: { fileId: 'f1', name: 'a.txt', content: 'abc' },
  },
  // fin: missing segments or missing init
  {
    situation: 'A fin with a segment missing reports incomplete once the assembly gave up.',
    broker: 'slow',
    setup: [init('f1', { name: 'a.txt', size: 4 }), cmd('{p}/f1/0', 'ab')],
    command: cmd('{p}/f1/fin/4'),
    sync: ERR,
    async: OK,
    response: error('incomplete'),
    meanwhile: { command: OTHER, ack: { sync: 'after', async: 'before' }, response: 'after' },
    then: [
      { command: cmd('{p}/f1/2', 'cd'), description: 'success' },
      { command: cmd('{p}/f1/fin/4'), description: 'success' },
    ],
  },
  {
    situation: 'A fin without any init reports incomplete once the assembly gave up.',
    broker: 'slow',
    setup: [cmd('{p}/f1/0', 'ab')],
    command: cmd('{p}/f1/fin/2'),
    sync: ERR,
    async: OK,
    response: error('incomplete'),
    meanwhile: { command: OTHER, ack: { sync: 'after', async: 'before' }, response: 'after' },
  },
  // fin: whole-file checksum mismatch
  {
    situation: 'A fin whose checksum level does not match the assembled file reports internal_error, and a fin with the right one then succeeds.',
    broker: 'slow',
    setup: [init('f1', META), cmd('{p}/f1/0', 'abc')],
    command: cmd(`{p}/f1/fin/3/${XYZ}`),
    sync: ERR,
    async: OK,
    response: error('internal_error'),
    meanwhile: { command: OTHER, ack: { sync: 'after', async: 'before' }, response: 'after' },
    then: [{ command: cmd(`{p}/f1/fin/3/${ABC}`), description: 'success' }],
  },
  {
    situation: 'A fin for a file that does not match the checksum given in init reports internal_error.',
    broker: 'slow',
    setup: [init('f1', { ...META, checksum: XYZ }), cmd('{p}/f1/0', 'abc')],
    command: cmd('{p}/f1/fin/3'),
    sync: ERR,
    async: OK,
    response: error('internal_error'),
    meanwhile: { command: OTHER, ack: { sync: 'after', async: 'before' }, response: 'after' },
  },
  // fin: not done within assemble_timeout
  {
    situation: 'A fin whose assembly outlasts the assemble timeout reports timeout, acknowledged in sync mode only after the timeout.',
    broker: 'timeout',
    setup: [init('f1', META), cmd('{p}/f1/0', 'abc')],
    command: cmd('{p}/f1/fin/3'),
    sync: ERR,
    async: OK,
    response: error('timeout'),
    meanwhile: { command: OTHER, ack: { sync: 'after', async: 'before' }, response: 'after' },
  },
  // abort
  {
    situation: 'An abort is answered with success and deletes nothing.',
    setup: [init('f1', META), cmd('{p}/f1/0', 'abc')],
    command: cmd('{p}/f1/abort'),
    sync: OK,
    async: OK,
    response: ok,
    then: [{ command: cmd('{p}/f1/fin/3'), description: 'success' }],
  },
  // FT disabled
  {
    situation: 'With file transfer disabled an init is an ordinary publish nobody receives, with 0x10 and no response.',
    broker: 'disabled',
    command: init('f1', META),
    sync: NO_MATCHING_SUBSCRIBERS,
    async: NO_MATCHING_SUBSCRIBERS,
    response: 'no response',
  },
  {
    situation: 'With file transfer disabled a fin is an ordinary publish nobody receives, with 0x10 and no response.',
    broker: 'disabled',
    command: cmd('{p}/f1/fin/3'),
    sync: NO_MATCHING_SUBSCRIBERS,
    async: NO_MATCHING_SUBSCRIBERS,
    response: 'no response',
  },
  // handler crash (non-object JSON init)
  {
    situation: 'An init whose JSON is an array crashes the handler, giving 0x10 and no response.',
    command: cmd('{p}/f1/init', '[]'),
    sync: NO_MATCHING_SUBSCRIBERS,
    async: NO_MATCHING_SUBSCRIBERS,
    response: 'no response',
  },
  {
    situation: 'An init whose JSON is a number crashes the handler, giving 0x10 and no response.',
    command: cmd('{p}/f1/init', '42'),
    sync: NO_MATCHING_SUBSCRIBERS,
    async: NO_MATCHING_SUBSCRIBERS,
    response: 'no response',
  },
  // QoS 2 / QoS 0 commands
  {
    situation: 'An init sent at QoS 2 gets PUBREC 0x10, no response, and is not stored.',
    command: cmd('{p}/f1/init', JSON.stringify(META), 2),
    sync: NO_MATCHING_SUBSCRIBERS,
    async: NO_MATCHING_SUBSCRIBERS,
    response: 'no response',
    then: [{ command: cmd('{p}/f1/fin/0'), description: 'incomplete' }],
  },
  {
    situation: 'An init sent at QoS 0 is dropped: nothing is stored and nothing answers.',
    command: cmd('{p}/f1/init', JSON.stringify(META), 0),
    sync: 'no ack',
    async: 'no ack',
    response: 'no response',
    then: [{ command: cmd('{p}/f1/fin/0'), description: 'incomplete' }],
  },
  // publish quota exceeded
  {
    situation: 'A segment over the publish quota gets 0x97, no response, and is not stored.',
    broker: 'quota',
    setup: [init('f1', { name: 'a.txt', size: 1 })],
    command: cmd('{p}/f1/0', 'a'),
    sync: QUOTA_EXCEEDED,
    async: QUOTA_EXCEEDED,
    response: 'no response',
    then: [{ command: cmd('{p}/f1/fin/1'), description: 'incomplete' }],
  },
];
