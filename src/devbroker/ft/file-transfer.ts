import { createHash } from 'node:crypto';
import type { LogLevel } from '../../log';
import { chance, createPrng, type Prng } from '../prng';
import type { BrokerCore, BrokerFaults, InboundPublish, InterceptResult, PublishInterceptor } from '../types';
import { runAssembly } from './assembler';
import { type FtCommand, type FtMode, parseFtTopic } from './command-parser';
import { ExportStore } from './export-store';
import { decodeFilemetaPayload } from './filemeta';
import { fail, type FtResult, OK, RC_NO_MATCHING_SUBSCRIBERS, RC_QUOTA_EXCEEDED, RC_SUCCESS, resultToReasonCode } from './ft-result';
import { type ReplyTarget, Responder } from './responder';
import { SegmentStore, type Transfer } from './segment-store';
import { TimerSet } from './timers';

export interface FileTransferOptions {
  dataDir: string;
  faults?: BrokerFaults;
  /** Do not store segment payloads (benchmarks): answers as usual, exports are empty. */
  sink?: boolean;
  /** Accepted for the broker's wiring; logging goes through `core.log`. */
  logLevel?: LogLevel;
}

export interface FileTransfer extends PublishInterceptor {
  close(): Promise<void>;
}

/** EMQX `file_transfer.assemble_timeout` default: 5 minutes. */
const DEFAULT_ASSEMBLE_TIMEOUT_MS = 300_000;

/** What handling one command yields: the acknowledgement, and what later commands must wait for. */
interface Handled {
  ack: number | Promise<number>;
  settled?: Promise<unknown>;
}

/** EMQX's per-fin responder process (`emqx_ft_responder`), keyed by connection and packet id. */
interface FinResponder {
  mode: FtMode;
  target: ReplyTarget;
  resolveAck(rc: number): void;
  cancelTimer(): void;
  finished: boolean;
}

const never = new Promise<number>(() => undefined);

/**
 * The EMQX 5.8+ "File Transfer over MQTT" emulation (docs/emqx-ft.md), plugged into the development
 * broker as a publish interceptor.
 *
 * Commands of one client are handled strictly in arrival order, as EMQX's channel process does,
 * so init/segment acknowledgements leave in order; only a sync fin's PUBACK is held back.
 */
export function createFileTransfer(core: BrokerCore, options: FileTransferOptions): FileTransfer {
  return new FileTransferEmulation(core, options);
}

class FileTransferEmulation implements FileTransfer {
  readonly name = 'emqx-file-transfer';
  private readonly faults: BrokerFaults;
  private readonly prng: Prng;
  private readonly timers = new TimerSet();
  private readonly segments: SegmentStore;
  private readonly exports: ExportStore;
  private readonly responder: Responder;
  private readonly abort = new AbortController();
  /** Per client: the last command still being handled. */
  private readonly tails = new Map<string, Promise<unknown>>();
  /** Running assemblies by transfer: a second fin attaches instead of starting another. */
  private readonly assemblies = new Map<string, Promise<FtResult>>();
  private readonly responders = new Map<string, FinResponder>();
  /** Bumped when a client's connection closes: a responder belongs to one connection. */
  private readonly connections = new Map<string, number>();

  constructor(
    private readonly core: BrokerCore,
    options: FileTransferOptions,
  ) {
    this.faults = options.faults ?? {};
    this.prng = createPrng(this.faults.seed ?? 1);
    this.segments = new SegmentStore(options.dataDir, { sink: options.sink === true });
    this.exports = new ExportStore(options.dataDir);
    this.responder = new Responder(core, this.prng, this.faults, this.timers);
  }

  onPublish(msg: InboundPublish): InterceptResult | null {
    const parsed = parseFtTopic(msg.topic);
    if (parsed === null) return null;
    // EMQX with file transfer disabled has no hooks: a normal publish nobody subscribed to.
    if (this.faults.fileTransferDisabled) return { kind: 'ack', reasonCode: RC_NO_MATCHING_SUBSCRIBERS };
    // Only the QoS 1 puback hook dispatches commands (docs/emqx-ft.md §1): QoS 0 vanishes, QoS 2 gets PUBREC 0x10.
    if (msg.qos === 0) return { kind: 'drop' };
    if (msg.qos === 2) return { kind: 'ack', reasonCode: RC_NO_MATCHING_SUBSCRIBERS };
    // The generic publish limiter rejects before any file-transfer code runs: no response.
    if (parsed.kind === 'command' && parsed.command.kind === 'segment' && chance(this.prng, this.faults.segmentQuotaRate)) {
      return { kind: 'ack', reasonCode: this.inOrder(msg.clientId, () => ({ ack: RC_QUOTA_EXCEEDED })) };
    }
    const target: ReplyTarget = {
      clientId: msg.clientId,
      topic: msg.topic,
      packetId: msg.messageId ?? 0,
      ...(msg.properties?.responseTopic !== undefined ? { responseTopic: msg.properties.responseTopic } : {}),
      ...(msg.properties?.correlationData !== undefined ? { correlationData: msg.properties.correlationData } : {}),
    };
    return {
      kind: 'ack',
      reasonCode: this.inOrder(msg.clientId, () => {
        if (parsed.kind === 'error') return this.immediate(target, fail(parsed.reason));
        return this.handleCommand(msg, parsed.mode, { clientId: msg.clientId, fileId: parsed.fileId }, parsed.command, target);
      }),
    };
  }

  onDisconnect(clientId: string): void {
    this.connections.set(clientId, (this.connections.get(clientId) ?? 0) + 1);
  }

  async close(): Promise<void> {
    this.abort.abort();
    this.timers.clear();
    for (const r of this.responders.values()) r.cancelTimer();
    this.responders.clear();
    await Promise.allSettled([...this.assemblies.values(), ...this.tails.values()]);
  }

  /** Runs `handle` after the client's previous command; returns its ack without delay when idle. */
  private inOrder(clientId: string, handle: () => Handled): number | Promise<number> {
    const tail = this.tails.get(clientId);
    if (tail === undefined) {
      const handled = this.safely(handle);
      if (handled.settled) this.setTail(clientId, handled.settled);
      return handled.ack;
    }
    let resolveAck: (rc: number | Promise<number>) => void = () => undefined;
    const ack = new Promise<number>((resolve) => (resolveAck = resolve));
    this.setTail(
      clientId,
      tail.then(() => {
        const handled = this.safely(handle);
        resolveAck(handled.ack);
        return handled.settled;
      }),
    );
    return ack;
  }

  private setTail(clientId: string, settled: Promise<unknown>): void {
    const tail = settled.catch(() => undefined);
    this.tails.set(clientId, tail);
    void tail.then(() => {
      if (this.tails.get(clientId) === tail) this.tails.delete(clientId);
    });
  }

  /** A bug here must not take the broker down: EMQX's hook crash gives 0x10 and no response. */
  private safely(handle: () => Handled): Handled {
    try {
      const handled = handle();
      const guard = (p: number | Promise<number>): number | Promise<number> => (typeof p === 'number' ? p : p.catch((err: unknown) => this.crashed(err)));
      return { ack: guard(handled.ack), ...(handled.settled ? { settled: handled.settled } : {}) };
    } catch (err) {
      return { ack: this.crashed(err) };
    }
  }

  private crashed(err: unknown): number {
    this.core.log.error({ err }, 'ft: command handler crashed');
    return RC_NO_MATCHING_SUBSCRIBERS;
  }

  /** Publish the response, then acknowledge with the same result (`?ACK_AND_PUBLISH`). */
  private immediate(target: ReplyTarget, result: FtResult): Handled {
    this.responder.publish(target, result);
    return { ack: resultToReasonCode(result) };
  }

  private later(target: ReplyTarget, work: Promise<FtResult>): Handled {
    const ack = work.then((result) => {
      this.responder.publish(target, result);
      return resultToReasonCode(result);
    });
    return { ack, settled: ack };
  }

  private handleCommand(msg: InboundPublish, mode: FtMode, transfer: Transfer, command: FtCommand, target: ReplyTarget): Handled {
    switch (command.kind) {
      case 'init': {
        const decoded = decodeFilemetaPayload(msg.payload);
        if (decoded.kind === 'crash') {
          this.core.log.warn({ topic: msg.topic }, 'ft: init payload is JSON but not an object; EMQX crashes here (0x10, no response)');
          return { ack: RC_NO_MATCHING_SUBSCRIBERS };
        }
        if (decoded.kind === 'error') return this.immediate(target, fail(decoded.reason));
        return this.later(target, this.segments.storeFilemeta(transfer, decoded.meta));
      }
      case 'segment': {
        if (command.checksum && !createHash('sha256').update(msg.payload).digest().equals(command.checksum)) {
          return this.immediate(target, fail('checksum_mismatch'));
        }
        if (chance(this.prng, this.faults.segmentErrorRate)) return this.immediate(target, fail('internal_error'));
        return this.later(target, this.segments.storeSegment(transfer, command.offset, msg.payload));
      }
      case 'abort':
        // `on_abort` is a TODO in EMQX: success, nothing deleted (docs/emqx-ft.md §7.4).
        return this.immediate(target, OK);
      case 'fin':
        return this.handleFin(msg, mode, transfer, command.size, command.checksum, target);
    }
  }

  private responderKey(msg: InboundPublish): string {
    return `${msg.clientId}\u0000${this.connections.get(msg.clientId) ?? 0}\u0000${msg.messageId ?? 0}`;
  }

  /**
   * `on_fin` (docs/emqx-ft.md §3, §5): a responder per (connection, packet id) with the assemble
   * timeout; a second fin with a packet id whose responder is still alive is a retransmission and
   * gets neither an ack nor a response (`already_started`). That holds for any fin reusing the id,
   * as on EMQX.
   */
  private handleFin(msg: InboundPublish, mode: FtMode, transfer: Transfer, size: bigint, finChecksum: string | undefined, target: ReplyTarget): Handled {
    const key = this.responderKey(msg);
    if (this.responders.has(key)) return { ack: never };
    let resolveAck: (rc: number) => void = () => undefined;
    const ack = new Promise<number>((resolve) => (resolveAck = resolve));
    const responder: FinResponder = { mode, target, resolveAck, cancelTimer: () => undefined, finished: false };
    this.responders.set(key, responder);
    const timeoutMs = this.faults.assembleTimeoutMs ?? DEFAULT_ASSEMBLE_TIMEOUT_MS;
    responder.cancelTimer = this.timers.after(timeoutMs, () => this.finishFin(key, responder, 'timeout', fail('timeout')));

    const started = (async (): Promise<void> => {
      const tkey = transferKey(transfer);
      let assembly = this.assemblies.get(tkey);
      if (assembly === undefined) {
        if (await this.exports.isExported(transfer)) {
          // Already exported: success without looking at size or checksum (docs/emqx-ft.md §5), and the
          // leftover fragments are collected.
          await this.segments.collect(transfer).catch(() => undefined);
          this.finishFin(key, responder, 'ack', OK);
          return;
        }
        assembly = this.assemblies.get(tkey) ?? this.startAssembly(tkey, transfer, size, finChecksum);
      }
      void assembly.then((result) => this.finishFin(key, responder, 'down', result));
      if (mode === 'async') resolveAck(RC_SUCCESS);
    })().catch((err: unknown) => {
      this.core.log.error({ err }, 'ft: starting assembly failed');
      this.finishFin(key, responder, 'ack', fail('internal_error'));
    });
    return { ack, settled: started };
  }

  /** `on_complete`: async fins were acked already, except on an immediate (`ack`) result. */
  private finishFin(key: string, responder: FinResponder, how: 'ack' | 'down' | 'timeout', result: FtResult): void {
    if (responder.finished) return;
    responder.finished = true;
    responder.cancelTimer();
    if (this.responders.get(key) === responder) this.responders.delete(key);
    if (this.abort.signal.aborted) return;
    const needAck = !(responder.mode === 'async' && how !== 'ack');
    if (needAck) responder.resolveAck(resultToReasonCode(result));
    this.responder.publish(responder.target, result);
  }

  private startAssembly(tkey: string, transfer: Transfer, size: bigint, finChecksum: string | undefined): Promise<FtResult> {
    const assembly = runAssembly(this.segments, this.exports, {
      transfer,
      size,
      ...(finChecksum !== undefined ? { finChecksum } : {}),
      delayMs: this.faults.assemblyDelayMs ?? 0,
      signal: this.abort.signal,
      sleep: (ms, signal) => this.timers.sleep(ms, signal),
    }).catch((err: unknown): FtResult => {
      this.core.log.error({ err, transfer }, 'ft: assembly crashed');
      return fail('internal_error');
    });
    this.assemblies.set(tkey, assembly);
    void assembly.then((result) => {
      if (this.assemblies.get(tkey) === assembly) this.assemblies.delete(tkey);
      this.core.log.info({ transfer, result }, 'ft: assembly finished');
    });
    return assembly;
  }
}

function transferKey(t: Transfer): string {
  return `${t.clientId}\u0000${t.fileId}`;
}
