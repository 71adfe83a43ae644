import { createHash } from 'node:crypto';
import { FtError } from '../errors';

/**
 * The envelope of every small state file (job records, checkpoints): one ASCII header line, then
 * the JSON body.
 *
 *   ftagent-record v1 <kind>/<version> <body byte length> <sha256 of body, lowercase hex>\n<JSON body>
 *
 * `v1` is the envelope format; `<kind>/<version>` is the record type and its schema version, so a
 * later ftagent can read old records and an older one refuses newer ones by name. The length and
 * the hash make a torn, truncated, padded or bit-flipped file fail loudly instead of being half
 * believed. JSON.stringify never emits a raw newline, so the first "\n" always ends the header.
 */
const MAGIC = 'ftagent-record';
const ENVELOPE = 'v1';
const MAX_HEADER = 200;
const HEADER_RE = /^ftagent-record (v\d+) ([a-z][a-z0-9-]*)\/(\d+) (\d+) ([0-9a-f]{64})$/;

export interface DecodedRecord {
  version: number;
  body: unknown;
}

export function encodeRecord(kind: string, version: number, body: unknown): Uint8Array {
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  const header = `${MAGIC} ${ENVELOPE} ${kind}/${version} ${json.length} ${sha256(json)}\n`;
  return new Uint8Array(Buffer.concat([Buffer.from(header, 'ascii'), json]));
}

/**
 * Check and parse a record. `file` names it in errors. Any failure is STATE_CORRUPT naming the
 * file and the problem; callers quarantine the file and carry on.
 */
export function decodeRecord(bytes: Uint8Array, expect: { kind: string; versions: readonly number[]; file: string }): DecodedRecord {
  const corrupt = (problem: string): FtError => new FtError('STATE_CORRUPT', `state file ${expect.file} ${problem}`, { details: { file: expect.file, problem } });

  if (bytes.length === 0) throw corrupt('is empty (its write was probably cut short)');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const newline = buf.subarray(0, MAX_HEADER).indexOf(0x0a);
  if (newline < 0) throw corrupt('has no header line (torn, or not an ftagent record)');
  const header = buf.subarray(0, newline).toString('latin1');
  const m = HEADER_RE.exec(header);
  if (!m) throw corrupt('has a malformed header (torn or damaged)');
  const [, envelope = '', kind = '', versionText = '', lengthText = '', hash = ''] = m;
  const version = Number(versionText);
  const length = Number(lengthText);
  // Rebuilding the header rules out equivalent spellings (leading zeros) a damaged byte could produce.
  if (header !== `${MAGIC} ${envelope} ${kind}/${version} ${length} ${hash}`) throw corrupt('has a malformed header (torn or damaged)');
  if (envelope !== ENVELOPE) throw corrupt(`uses record format ${envelope}; this ftagent reads ${ENVELOPE} (written by a newer version?)`);
  if (kind !== expect.kind) throw corrupt(`holds a ${kind} record where a ${expect.kind} record was expected`);
  if (!expect.versions.includes(version)) {
    throw corrupt(`is ${kind} version ${version}; this ftagent reads version ${expect.versions.join(', ')} (written by a newer version?)`);
  }
  const body = buf.subarray(newline + 1);
  if (body.length !== length) throw corrupt(`is truncated or padded: the header says ${length} body bytes, the file has ${body.length}`);
  if (sha256(body) !== hash) throw corrupt('fails its checksum (torn write or storage corruption)');
  try {
    return { version, body: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    throw corrupt('has a body that is not JSON');
  }
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
