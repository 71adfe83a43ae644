/**
 * The command sequences of the differential test: each is sent by a plain MQTT.js client to both
 * EMQX 5.3.2 and the development broker. Topics use `{ft}` for the mode's prefix (`$file` or
 * `$file-async`), `{f}` for the sequence's file id and `{c}` for its client id.
 */
import { createHash } from 'node:crypto';

export interface Step {
  topic: string;
  payload?: string | Buffer;
  qos?: 0 | 1 | 2;
  /** MQTT 5: ask for the response on `resp/{c}`, with this Correlation-Data. */
  correlation?: string;
}

export interface Sequence {
  name: string;
  version: 4 | 5;
  prefix: '$file' | '$file-async';
  steps: Step[];
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const DATA = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
const meta = (over: Record<string, unknown> = {}): string => JSON.stringify({ name: 'd.bin', size: DATA.length, ...over });
const seg = (offset: number, length: number, checksum?: string): Step => ({
  topic: `{ft}/{f}/${offset}${checksum === undefined ? '' : `/${checksum}`}`,
  payload: DATA.subarray(offset, offset + length),
});
const init = (payload = meta(), extra: Partial<Step> = {}): Step => ({ topic: '{ft}/{f}/init', payload, ...extra });
const fin = (size: number | string = DATA.length, checksum?: string): Step => ({ topic: `{ft}/{f}/fin/${size}${checksum === undefined ? '' : `/${checksum}`}` });
const whole = (): Step[] => [seg(0, 16), seg(16, 20)];

/** Scenarios run in every mode (sync and async, MQTT 5 and 3.1.1). */
const scenarios: Array<[string, Step[]]> = [
  ['a valid upload', [init(), ...whole(), fin(DATA.length, sha(DATA))]],
  ['an empty file', [init(meta({ size: 0 })), fin(0)]],
  ['fin without checksum', [init(), ...whole(), fin()]],
  ['init that is not JSON', [init('{not json'), fin()]],
  ['init with a name containing /', [init(meta({ name: 'a/b' }))]],
  ['init without a name', [init(JSON.stringify({ size: 3 }))]],
  ['init with unknown keys and user_data', [init(meta({ extra: 1, user_data: { k: [1, 2] } })), ...whole(), fin()]],
  ['init with a bad checksum format', [init(meta({ checksum: 'xyz' }))]],
  ['init with a negative size', [init(meta({ size: -1 }))]],
  ['a conflicting re-init', [init(), init(meta({ size: 99 }))]],
  ['an identical re-init', [init(), init(), ...whole(), fin()]],
  ['segments out of order', [init(), seg(16, 20), seg(0, 16), fin()]],
  ['segments resized and overlapping', [init(), seg(0, 10), seg(5, 20), seg(20, 16), fin()]],
  ['a missing segment', [init(), seg(0, 10), seg(20, 16), fin()]],
  ['segment checksums right', [init(), seg(0, 16, sha(DATA.subarray(0, 16))), seg(16, 20, sha(DATA.subarray(16))), fin()]],
  ['a segment checksum wrong, then right', [init(), seg(0, 16, sha('x')), seg(0, 16), seg(16, 20), fin()]],
  ['a segment checksum in a bad format', [init(), seg(0, 16, 'nothex')]],
  ['a bad segment offset', [init(), { topic: '{ft}/{f}/abc', payload: 'x' }]],
  ['fin with a larger size', [init(), ...whole(), fin(DATA.length + 1)]],
  ['fin with a smaller size', [init(), ...whole(), fin(10)]],
  ['fin with a wrong checksum', [init(), ...whole(), fin(DATA.length, sha('other'))]],
  ['fin with a bad size', [init(), ...whole(), fin('abc')]],
  ['segments and fin without init', [...whole(), fin()]],
  ['abort', [init(), seg(0, 16), { topic: '{ft}/{f}/abort' }]],
  ['an unknown command', [{ topic: '{ft}/{f}/frobnicate', payload: 'x' }]],
  ['too many topic levels', [init(), { topic: '{ft}/{f}/fin/36/aa/bb' }]],
  ['a QoS 0 init, then fin', [init(meta(), { qos: 0 }), fin()]],
  ['a QoS 2 segment', [init(), { ...seg(0, 16), qos: 2 }, seg(16, 20), fin()]],
  ['fin again after success', [init(), ...whole(), fin(), fin()]],
];

/** MQTT 5 only: responses on the Response-Topic, Correlation-Data echoed. */
const v5Scenarios: Array<[string, Step[]]> = [
  ['Response-Topic and Correlation-Data', [init(meta(), { correlation: 'c-init' }), { ...seg(0, 16), correlation: 'c-0' }, seg(16, 20), { ...fin(), correlation: 'c-fin' }]],
  ['Response-Topic on an error', [{ ...init('nope'), correlation: 'c-bad' }]],
];

const modes: Array<[string, 4 | 5, Sequence['prefix']]> = [
  ['sync MQTT 5', 5, '$file'],
  ['async MQTT 5', 5, '$file-async'],
  ['async MQTT 3.1.1', 4, '$file-async'],
  ['sync MQTT 3.1.1', 4, '$file'],
];

export const sequences: Sequence[] = modes.flatMap(([mode, version, prefix]) =>
  [...scenarios, ...(version === 5 ? v5Scenarios : [])].map(([name, steps]) => ({ name: `${name}, ${mode}`, version, prefix, steps })),
);
