/**
 * One EMQX file-transfer upload as an explicit state machine: this file holds its state and ports;
 * every behaviour is a row of the table in upload-transitions.ts (`{ from, on, run, to }`), the
 * reason-code policy is upload-results.ts and a command's life is upload-commands.ts. Handlers talk
 * only to ports (command link, source file, clock, logger), so tests drive a session with a
 * scripted link and a fake clock. Events are handled one at a time, in order.
 */
import { FtError } from '../../errors';
import type { Logger } from '../../log';
import type { Clock } from '../../time/clock';
import type { CommandLink, LinkEvent, LinkLimits, PubackInfo } from '../../mqtt/command-link';
import type { FileResponse } from '../../protocol/emqx-ft-response';
import { BufferPool } from './buffer-pool';
import { ChunkReader } from './chunk-reader';
import { NodeRanges, type NodeRangesRecord } from './node-ranges';
import { RangeSet, type ByteRange } from './range-set';
import type { SourceFile, SourceIdentity } from '../source-file';
import { Machine } from '../state-machine';
import { abandonAll, fail, releaseWire, type Cmd } from './upload-commands';
import { chooseGeometry, maxAutoChunkSize, type Geometry } from './upload-geometry';
import type { UploadOptions } from './upload-options';
import type { UploadSnapshot, UploadStage } from './upload-snapshot';
import { transitions } from './upload-transitions';

export type SessionState = 'idle' | 'init' | 'segments' | 'fin' | 'paused' | 'offline' | 'done' | 'failed';

export type SessionEvent =
  | { kind: 'start' }
  | { kind: 'ack'; cmd: Cmd; info: PubackInfo }
  | { kind: 'lost'; cmd: Cmd }
  | { kind: 'response'; response: FileResponse }
  | { kind: 'timeout'; cmd: Cmd }
  | { kind: 'retry'; cmd: Cmd }
  | { kind: 'resume' }
  | { kind: 'slot' }
  | { kind: 'up' }
  | { kind: 'down'; reason: string }
  | { kind: 'failed'; error: FtError }
  | { kind: 'interrupt' };

export interface SessionPorts {
  link: CommandLink;
  clock: Clock;
  logger: Logger;
  random?: () => number;
}

export interface SessionSetup {
  options: UploadOptions;
  fileId: string;
  initPayload: Buffer;
  source: SourceFile;
  identity: SourceIdentity;
  /** Ranges the broker already confirmed (resume). */
  confirmed?: readonly ByteRange[];
  /** Which node confirmed which of them (resume). */
  nodes?: Readonly<NodeRangesRecord>;
}

export interface SessionOutcome {
  sha256: string;
  bytesSent: number;
  retries: number;
}

export type Pause = { then: 'send' | 'restart'; cancel: () => void };

export class UploadSession {
  stage: UploadStage = 'init';
  linkUp: boolean;
  readonly confirmed: RangeSet;
  readonly nodes: NodeRanges;
  readonly outstanding = new Map<string, Cmd>();
  /** Commands waiting for a free slot of the link: init, fin and re-sends. */
  resendQueue: Cmd[] = [];
  /** Segment size and window in use; chosen from the link's limits unless the options set them. */
  geometry: Geometry;
  /** The largest default segment allowed: lowered when the broker keeps dropping large commands. */
  chunkCeiling = maxAutoChunkSize;
  /** Connections lost in a row while segments were in flight, with no segment confirmed since. */
  dropsWithoutProgress = 0;
  /** A `slot` event is queued and not yet handled. */
  slotQueued = false;
  reader: ChunkReader;
  pause: Pause | null = null;
  error: FtError | null = null;
  finished = false;
  finTopic: string | null = null;
  bytesSent = 0;
  retries = 0;
  restarts = 0;
  resendAlls = 0;
  pauses = 0;
  private readonly machine: Machine<SessionState, SessionEvent, UploadSession>;
  private readonly settled: Promise<SessionOutcome>;
  private resolveOutcome!: (o: SessionOutcome) => void;
  private rejectOutcome!: (e: FtError) => void;
  private readonly offLink: () => void;

  constructor(
    readonly setup: SessionSetup,
    readonly ports: SessionPorts,
  ) {
    this.confirmed = new RangeSet(setup.confirmed ?? []);
    this.nodes = new NodeRanges(setup.nodes ?? {});
    this.geometry = this.geometryFor(ports.link.limits());
    this.reader = this.readerFor(this.geometry);
    this.linkUp = ports.link.isUp();
    this.settled = new Promise((resolve, reject) => {
      this.resolveOutcome = resolve;
      this.rejectOutcome = reject;
    });
    this.machine = new Machine<SessionState, SessionEvent, UploadSession>(
      transitions,
      'idle',
      this,
      ports.logger,
      {
        label: 'upload',
        onError: (session, err) => {
          fail(session, FtError.from(err));
          return 'failed';
        },
        onIgnored: (session, e, state) => {
          // Late PUBACKs and losses still release buffers after their command was retired.
          if (e.kind === 'ack' || e.kind === 'lost') releaseWire(e.cmd);
          if (e.kind === 'slot') session.slotQueued = false;
          session.ports.logger.trace({ state, event: e.kind }, 'event ignored');
        },
        onEnter: (_session, to) => {
          if (to === 'done' || to === 'failed') this.finish();
        },
      },
      ['done', 'failed'],
    );
    this.offLink = ports.link.listen((e) => this.onLinkEvent(e));
  }

  get state(): SessionState {
    return this.machine.state;
  }

  get options(): UploadOptions {
    return this.setup.options;
  }

  /** Starts the upload; resolves when the broker has the file, rejects with an FtError otherwise. */
  run(): Promise<SessionOutcome> {
    const signal = this.options.signal;
    if (signal) {
      if (signal.aborted) this.post({ kind: 'interrupt' });
      else signal.addEventListener('abort', () => this.post({ kind: 'interrupt' }), { once: true });
    }
    this.post({ kind: 'start' });
    return this.settled;
  }

  post(e: SessionEvent): void {
    this.machine.dispatch(e);
  }

  /** The resume state: only what the broker confirmed. */
  snapshot(): UploadSnapshot {
    return {
      fileId: this.setup.fileId,
      stage: this.stage,
      initPayload: this.setup.initPayload,
      confirmed: this.confirmed.toArray(),
      nodes: this.nodes.toRecord(),
      source: this.setup.identity,
    };
  }

  /** Own window: the chosen one, never above the broker's Receive Maximum. */
  window(): number {
    return Math.max(1, Math.min(this.geometry.window, this.ports.link.limits().receiveMaximum));
  }

  /** The geometry these link limits call for (the options' explicit values win). */
  geometryFor(limits: LinkLimits): Geometry {
    const o = this.options;
    return chooseGeometry(
      {
        mode: o.mode,
        fileId: this.setup.fileId,
        size: this.setup.identity.size,
        segmentChecksums: o.segmentChecksums,
        memoryBudget: o.memoryBudget,
        ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}),
        ...(o.window !== undefined ? { window: o.window } : {}),
      },
      limits,
      this.ports.link.protocolVersion,
      this.chunkCeiling,
    );
  }

  /** A reader over fresh buffers of this geometry: at most window + 1 chunks are ever held. */
  readerFor(g: Geometry): ChunkReader {
    return new ChunkReader(this.setup.source, this.setup.identity.size, g.chunkSize, new BufferPool(g.chunkSize, g.window + 1));
  }

  private onLinkEvent(e: LinkEvent): void {
    if (e.kind === 'response') this.post({ kind: 'response', response: e.response });
    else if (e.kind === 'slot') {
      // Every PUBACK frees a slot: one queued `slot` event pumps for all of them (and the PUBACK's
      // own `ack` event pumps too), instead of one more machine step per segment.
      if (this.state !== 'offline' && this.state !== 'paused' && !this.slotQueued) {
        this.slotQueued = true;
        this.post({ kind: 'slot' });
      }
    } else if (e.kind === 'up') this.post({ kind: 'up' });
    else if (e.kind === 'down') this.post({ kind: 'down', reason: e.reason });
    else this.post({ kind: 'failed', error: e.error });
  }

  private finish(): void {
    this.offLink();
    abandonAll(this);
    this.pause?.cancel();
    if (this.state === 'done') {
      this.resolveOutcome({ sha256: this.reader.sha256(), bytesSent: this.bytesSent, retries: this.retries });
    } else {
      this.rejectOutcome(this.error ?? new FtError('INTERNAL', 'the upload stopped for an unknown reason'));
    }
  }
}
