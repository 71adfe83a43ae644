/**
 * The store server as an nftp receiver on an allocated topic (broadcast/upload): its own receiver
 * (nftp/receiver.ts, no code shared with the agent) into `<storeDir>/received/<clientid>/<job_id>/<name>`,
 * GIVEME on a stall, CRC-32C checked before the file is moved into place. The lost-block fault drops
 * a block on its first arrival only, so GIVEME can always repair it.
 */
import { join } from 'node:path';
import { chance } from '../prng';
import { NftpIntakeReceiver, type ReceiveResult } from './nftp/receiver';
import { read } from './nftp/wire';
import type { StoreServerContext } from './types';

export interface IntakeOptions {
  clientId: string;
  jobId: string;
  /** The request's `path`; only its base name is used, made safe. */
  path: string;
}

export interface Intake {
  readonly topic: string;
  readonly target: string;
  readonly done: Promise<ReceiveResult>;
  abort(reason: string): void;
}

export function startIntake(ctx: StoreServerContext, options: IntakeOptions): Intake {
  const target = join(ctx.storeDir, 'received', safeSegment(options.clientId), safeSegment(options.jobId), safeSegment(baseName(options.path)));
  const lost = new Set(ctx.faults.lostBlocks ?? []);
  const seen = new Set<number>();
  let receiver: NftpIntakeReceiver | undefined;
  const topic = ctx.allocateTopic(options.clientId, (payload) => {
    if (!receiver) return;
    if (dropOnFirstArrival(payload)) return;
    receiver.receive(payload);
  });
  const link = ctx.topicLink(topic);
  receiver = new NftpIntakeReceiver({
    target,
    publish: (bytes) => link.publish(bytes),
    clock: ctx.clock,
    log: ctx.log.child({ topic, clientId: options.clientId }),
    blockSize: ctx.nftp.blockSize,
    width: ctx.nftp.width,
    stallMs: ctx.nftp.stallMs,
    helloWaitMs: ctx.nftp.helloWaitMs,
    givemeBurst: ctx.nftp.givemeBurst,
  });
  const r = receiver;
  return { topic, target, done: r.done, abort: (reason) => r.abort(reason) };

  function dropOnFirstArrival(payload: Buffer): boolean {
    const packet = read(payload, ctx.nftp.width);
    // One that does not parse is the receiver's to log.
    if (typeof packet === 'string' || (packet.type !== 'FILE' && packet.type !== 'END')) return false;
    const first = !seen.has(packet.seq);
    seen.add(packet.seq);
    if (first && (lost.has(packet.seq) || chance(ctx.prng, ctx.faults.lostBlockRate))) {
      ctx.log.debug({ topic, seq: packet.seq }, 'store fault: block lost');
      return true;
    }
    return false;
  }
}

function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter((s) => s.length > 0);
  return parts[parts.length - 1] ?? 'unnamed';
}

/** One path component the client cannot use to leave the directory. */
export function safeSegment(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200);
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? `_${cleaned}_` : cleaned;
}
