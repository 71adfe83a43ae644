/**
 * A small seeded fuzzer: each input is either random bytes or a mutation of a valid seed input
 * (bit flips, byte overwrites with boundary values, inserts, deletes, duplicated or spliced ranges,
 * truncation). The same seed gives the same inputs, so a finding replays exactly. A crash is any
 * exception the target does not declare as its decode error; a hang is an input that takes longer
 * than the per-input bound.
 */
import { prng } from '../nftp/prng';

export interface FuzzTarget {
  name: string;
  /** Valid inputs the mutations start from. */
  seeds: Uint8Array[];
  /**
   * Runs the decoder (and any property it must keep); throws only what `expected` accepts. A decoder
   * that reports refusals instead of throwing returns false for them.
   */
  run(input: Uint8Array): void | boolean | Promise<void | boolean>;
  /** The decoder's own, documented rejection (an FtError with its decode code). */
  expected(err: unknown): boolean;
}

export interface Finding {
  kind: 'crash' | 'hang';
  /** Which input of the run (replay: same seed, same index). */
  index: number;
  inputHex: string;
  message: string;
}

export interface FuzzReport {
  target: string;
  inputs: number;
  rejected: number;
  accepted: number;
  findings: Finding[];
  slowestMs: number;
}

const interesting = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x30, 0x39, 0x2d, 0x65, 0x0a];

export function mutate(rand: () => number, seeds: readonly Uint8Array[]): Uint8Array {
  const pick = (n: number): number => Math.floor(rand() * n);
  if (seeds.length === 0 || rand() < 0.1) {
    const out = new Uint8Array(pick(64));
    for (let i = 0; i < out.length; i++) out[i] = pick(256);
    return out;
  }
  let data = Array.from(seeds[pick(seeds.length)] as Uint8Array);
  const rounds = 1 + pick(4);
  for (let r = 0; r < rounds; r++) {
    const at = pick(data.length + 1);
    switch (pick(8)) {
      case 0:
        if (data.length > 0) data[at % data.length] = (data[at % data.length] as number) ^ (1 << pick(8));
        break;
      case 1:
        if (data.length > 0) data[at % data.length] = interesting[pick(interesting.length)] as number;
        break;
      case 2:
        data.splice(at, 0, ...Array.from({ length: 1 + pick(8) }, () => pick(256)));
        break;
      case 3:
        data.splice(at, 1 + pick(8));
        break;
      case 4: {
        const len = pick(Math.min(32, data.length + 1));
        data.splice(at, 0, ...data.slice(pick(data.length + 1), pick(data.length + 1) + len));
        break;
      }
      case 5: {
        const other = Array.from(seeds[pick(seeds.length)] as Uint8Array);
        data = [...data.slice(0, at), ...other.slice(pick(other.length + 1))];
        break;
      }
      case 6:
        data = data.slice(0, at);
        break;
      default:
        // Big-endian integer fields: set a 16- or 32-bit boundary value.
        if (data.length >= 4) {
          const v = [0, 1, 0x7fff, 0x8000, 0xffff, 0xffffffff][pick(6)] as number;
          const i = pick(data.length - 3);
          data[i] = (v >>> 24) & 0xff;
          data[i + 1] = (v >>> 16) & 0xff;
          data[i + 2] = (v >>> 8) & 0xff;
          data[i + 3] = v & 0xff;
        }
    }
  }
  return Uint8Array.from(data);
}

export async function fuzz(target: FuzzTarget, o: { count: number; seed: number; maxMsPerInput: number; maxFindings?: number }): Promise<FuzzReport> {
  const rand = prng(o.seed);
  const report: FuzzReport = { target: target.name, inputs: 0, rejected: 0, accepted: 0, findings: [], slowestMs: 0 };
  for (let index = 0; index < o.count && report.findings.length < (o.maxFindings ?? 20); index++) {
    // The seeds themselves go first: a valid input must be accepted.
    const input = index < target.seeds.length ? (target.seeds[index] as Uint8Array) : mutate(rand, target.seeds);
    const started = performance.now();
    try {
      if ((await target.run(input)) === false) report.rejected++;
      else report.accepted++;
    } catch (err) {
      if (target.expected(err)) report.rejected++;
      else report.findings.push({ kind: 'crash', index, inputHex: Buffer.from(input).toString('hex'), message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    }
    const ms = performance.now() - started;
    report.slowestMs = Math.max(report.slowestMs, ms);
    if (ms > o.maxMsPerInput) report.findings.push({ kind: 'hang', index, inputHex: Buffer.from(input).toString('hex'), message: `took ${ms.toFixed(1)} ms` });
    report.inputs++;
  }
  return report;
}
