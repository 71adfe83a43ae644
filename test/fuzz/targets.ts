/**
 * Every decoder that reads peer or file input, as a fuzz target with valid seed inputs and the one
 * rejection it is allowed to make. Decoders that must never throw (the $file-response parser, the
 * block-map reader) allow nothing.
 */
import mqttPacket from 'mqtt-packet';
import { parseConfig } from '../../src/config/load-config';
import { FtError, type FtErrorCode } from '../../src/errors';
import { parseStoreJob } from '../../src/jobs/store-job';
import { linkLimitsFrom, pubackResult } from '../../src/mqtt/ack-packets';
import { parseFileResponse } from '../../src/protocol/emqx-ft-response';
import { decodeSnifferMessage, encodeSnifferRequest, encodeSnifferResponse, sniffVerbs, snifferTopic } from '../../src/protocol/file-sniffer';
import { crc32c } from '../../src/protocol/crc32c';
import { decode, encode } from '../../src/protocol/nftp-codec';
import type { NftpPacket, NftpWidth } from '../../src/protocol/nftp-packets';
import { actionFor, describeReasonCode } from '../../src/protocol/reason-codes';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/storage/checkpoint';
import { decodeJob, encodeJob } from '../../src/storage/job-record';
import { encodeRecord } from '../../src/storage/record-codec';
import { NftpBitmap } from '../../src/transfer/nftp/nftp-bitmap';
import { parseMap } from '../../src/transfer/nftp/nftp-file-sink';
import { readmeExample } from '../helpers/readme-config';
import type { FuzzTarget } from './engine';

const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** An FtError with one of `codes` whose cause, if any, is ours too (not a TypeError caught and wrapped). */
const ours =
  (...codes: FtErrorCode[]) =>
  (err: unknown): boolean =>
    err instanceof FtError && codes.includes(err.code) && (err.cause === undefined || err.cause instanceof FtError);

function nftpTarget(width: NftpWidth): FuzzTarget {
  const packets: NftpPacket[] = [
    { kind: 'hello', id: 1, blocks: 3, name: 'price.csv', filehash: 0xdeadbeef },
    { kind: 'ack', id: 1, fileid: 0x12345678 },
    { kind: 'file', fileid: 0x12345678, seq: 0, content: utf8('block zero') },
    { kind: 'end', fileid: 0x12345678, seq: 2, content: new Uint8Array(0) },
    { kind: 'giveme', fileid: 0x12345678, seq: 1 },
  ];
  return {
    name: `nftp packet (${width})`,
    seeds: packets.map((p) => encode(p, { width })),
    run(input) {
      const packet = decode(input, { width, blocks: 65535 });
      // What decodes must encode back to the same bytes: nothing is lost or invented.
      if (!Buffer.from(encode(packet, { width })).equals(Buffer.from(input))) throw new Error('decode then encode does not give the input back');
    },
    expected: ours('NFTP_DECODE'),
  };
}

const request = { request_id: 'r-1', path: '/data/a.csv', target_path: 'in/a.csv', job_id: 12, task_id: 't', script_id: 's', topic: '$file/abc', servers: ['s1'], groups: [3] };

const sniffer: FuzzTarget = {
  name: '$file_sniffer message',
  seeds: [
    ...sniffVerbs.map((verb) => encodeSnifferRequest({ verb, ...request })),
    encodeSnifferResponse(request, { ack: 'WAIT', timeout: 1000 }),
    encodeSnifferResponse(request, { ack: 'ok', topic: '$file/0123456789abcdef0123456789abcdef' }),
    encodeSnifferResponse({ request_id: 'r-2', path: '/data' }, { result: 'OK', type: 'folder', folder_include: [{ name: 'a', type: 'file' }] }),
  ],
  run(input) {
    // The verb comes from the input too, so every verb's decoder sees every shape.
    const verb = sniffVerbs[input.length % sniffVerbs.length] as (typeof sniffVerbs)[number];
    decodeSnifferMessage(snifferTopic(verb, 'store-1'), input);
  },
  expected: ours('PROTOCOL_ERROR'),
};

const fileResponse: FuzzTarget = {
  name: '$file-response message',
  seeds: [utf8('{"vsn":"0.1","topic":"$file-async/f1/init","packet_id":7,"reason_code":0,"reason_description":"success"}'), utf8('{"vsn":"0.1","topic":"t","packet_id":1,"reason_code":131}')],
  run(input) {
    const r = parseFileResponse(input);
    if (r.ok) describeReasonCode(r.response.reasonCode);
    return r.ok;
  },
  expected: () => false,
};

const commands = ['init', 'segment', 'fin', 'abort'] as const;

const ackPackets: FuzzTarget = {
  name: 'CONNACK / PUBACK (MQTT 5)',
  seeds: [
    mqttPacket.generate({ cmd: 'connack', sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 32, maximumPacketSize: 1048576, topicAliasMaximum: 10 } }, { protocolVersion: 5 }),
    mqttPacket.generate({ cmd: 'puback', messageId: 7, reasonCode: 0x80, properties: { reasonString: 'checksum_mismatch' } }, { protocolVersion: 5 }),
    mqttPacket.generate({ cmd: 'puback', messageId: 65535, reasonCode: 0x10 }, { protocolVersion: 5 }),
  ],
  run(input) {
    // MQTT.js's own parser first (its errors close the connection; they are not ours to judge).
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const packets: mqttPacket.Packet[] = [];
    parser.on('packet', (p) => packets.push(p));
    let parseError = false;
    parser.on('error', () => (parseError = true));
    parser.parse(Buffer.from(input));
    for (const p of packets) {
      if (p.cmd === 'connack') {
        const limits = linkLimitsFrom(p);
        // A window of 0 would stall every upload: the wrapper must refuse it instead.
        if (limits.receiveMaximum < 1 || limits.maximumPacketSize < 1) throw new Error(`unusable link limits ${JSON.stringify(limits)}`);
      }
      if (p.cmd !== 'puback') continue;
      const ack = pubackResult(p);
      if (!ack) continue;
      for (const c of commands) actionFor(c, ack.reasonCode, ack.reasonString);
      describeReasonCode(ack.reasonCode);
    }
    return !parseError && packets.length > 0;
  },
  expected: ours('PROTOCOL_ERROR'),
};

/** The README's complete example without its TLS files (their existence is checked on disk). */
function fullConfig(): Record<string, unknown> {
  const { tls: _tls, ...rest } = JSON.parse(readmeExample()) as Record<string, unknown>;
  return rest;
}

const config: FuzzTarget = {
  name: 'config file',
  seeds: [utf8(JSON.stringify(fullConfig())), utf8(JSON.stringify(fullConfig(), null, 2)), utf8('{}')],
  // The password comes from the environment, so no mutated passwordFile path is ever opened.
  run: async (input) => void (await parseConfig(text(input), '/etc/ftagent/config.json', { env: { FTAGENT_PASSWORD: 'x' } })),
  expected: ours('CONFIG_INVALID'),
};

/**
 * A state record is checked as a whole first (header, length, SHA-256), which almost every mutation
 * fails; the body is then re-sealed with a valid header so the field checks behind it are reached too.
 */
function recordAndBody(input: Uint8Array, kind: string, decodeIt: (bytes: Uint8Array) => unknown): boolean {
  try {
    decodeIt(input);
  } catch (err) {
    if (!ours('STATE_CORRUPT')(err)) throw err;
  }
  const newline = input.indexOf(0x0a);
  let body: unknown;
  try {
    body = JSON.parse(text(input.subarray(newline + 1)));
  } catch {
    return false;
  }
  decodeIt(encodeRecord(kind, 1, body));
  return true;
}

const checkpoint: FuzzTarget = {
  name: 'checkpoint record',
  seeds: [
    encodeCheckpoint({
      jobId: 'j1',
      fileId: 'f1',
      initPayload: '{"name":"a.bin","size":10}',
      source: { path: '/data/a.bin', size: 10_000, mtimeMs: 1_700_000_000_000, ino: 42 },
      chunkSize: 4096,
      confirmed: [[0, 4096]],
      stage: 'segments',
      attempts: 1,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:01.000Z',
    }),
  ],
  run: (input) => recordAndBody(input, 'checkpoint', (bytes) => decodeCheckpoint(bytes, '/var/lib/ftagent/checkpoints/j1')),
  expected: ours('STATE_CORRUPT'),
};

const jobRecord: FuzzTarget = {
  name: 'job record',
  seeds: [
    encodeJob({ id: 'j1', state: 'queued', spec: { kind: 'upload', file: '/data/a.bin', options: { window: 4 }, createdAt: '2026-01-01T00:00:00.000Z' }, updatedAt: '2026-01-01T00:00:00.000Z' }),
    encodeJob({ id: 'j2', state: 'failed', spec: { kind: 'upload', file: '/data/b', options: {}, createdAt: 'x' }, updatedAt: 'y', reason: 'GAVE_UP: no', finishedAt: 'z' }),
  ],
  run: (input) => recordAndBody(input, 'job', (bytes) => decodeJob(bytes, '/var/lib/ftagent/jobs/j1.job')),
  expected: ours('STATE_CORRUPT'),
};

const storeJob: FuzzTarget = {
  name: 'store job file',
  seeds: [
    utf8(
      JSON.stringify({
        job_id: 'job-1',
        execution_time: '0 30 2 * * *',
        duration: 600,
        timezone: 'Europe/Berlin',
        tasks: [{ task_id: 't1', script_id: 's1', type: 'BROADCAST', path: '/data/out/*.csv', target_path: 'in/', groups: [1, 2], retry_times: 3, retry_interval: 30 }],
      }),
    ),
  ],
  run(input) {
    let value: unknown;
    try {
      value = JSON.parse(text(input));
    } catch {
      return false; // JSON.parse's own rejection: `job add` reports it as CONFIG_INVALID before this decoder
    }
    parseStoreJob(value, 'fuzz.json');
    return true;
  },
  expected: ours('CONFIG_INVALID'),
};

/** A map file as the sink writes it: the JSON line, then its CRC-32C. */
function mapText(body: string): Uint8Array {
  return utf8(`${body}\n${crc32c(body)}\n`);
}

const blockMap: FuzzTarget = {
  name: 'nftp block map',
  seeds: [mapText('{"v":1,"name":"a.bin","blocks":3,"filehash":1,"blockSize":1024,"bitmap":"Bw=="}')],
  run(input) {
    const whole = text(input);
    parseMap(whole);
    // Past the checksum too: the same first line with a matching CRC reaches the JSON checks.
    const line = whole.split('\n')[0] ?? '';
    const map = parseMap(`${line}\n${crc32c(line)}\n`);
    // As the sink uses it once HELLO (u16 block count) matched the map.
    if (map && Number.isInteger(map.blocks) && map.blocks >= 1 && map.blocks <= 0xffff) new NftpBitmap(map.blocks, Buffer.from(map.bitmap, 'base64')).nextMissing();
    return map !== undefined;
  },
  expected: () => false,
};

export const fuzzTargets: FuzzTarget[] = [nftpTarget('u16'), nftpTarget('u32'), sniffer, fileResponse, ackPackets, config, checkpoint, jobRecord, storeJob, blockMap];
