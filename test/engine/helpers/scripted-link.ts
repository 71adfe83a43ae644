import type { CommandLink, LinkEvent, LinkLimits, SendObserver } from '../../../src/mqtt/command-link';
import { encodeFileResponse } from '../../../src/protocol/emqx-ft-response';
import { parseFileResponse } from '../../../src/protocol/emqx-ft-response';
import { parseCommandTopic, type ParsedCommandTopic } from '../../../src/protocol/emqx-ft-topics';
import { FtError } from '../../../src/errors';

export interface SentCommand {
  seq: number;
  topic: string;
  parsed: ParsedCommandTopic;
  payload: Buffer;
  packetId: number;
  connection: number;
  observer: SendObserver;
  answered: boolean;
}

/** What the scripted broker does with a command: a PUBACK code, a response, both, or nothing. */
export interface Answer {
  puback?: number | null;
  reasonString?: string;
  response?: { reasonCode: number; description: string } | null;
}

export type Script = (cmd: SentCommand, link: ScriptedLink) => Answer;

/** A sync-mode EMQX that stores everything: PUBACK 0. */
export const acceptAll: Script = () => ({ puback: 0 });

/**
 * A CommandLink that records every publish and answers as a script says, on the next tick. It also
 * checks the flow-control promises: never more publishes in flight than the Receive Maximum.
 */
export class ScriptedLink implements CommandLink {
  readonly sent: SentCommand[] = [];
  up = true;
  connection = 1;
  maxObservedInFlight = 0;
  private nextPacketId = 1;
  private readonly inFlight = new Map<number, SentCommand>();
  private readonly listeners = new Set<(e: LinkEvent) => void>();
  script: Script;

  constructor(
    readonly protocolVersion: 4 | 5 = 5,
    script: Script = acceptAll,
    public limitsValue: LinkLimits = { receiveMaximum: 65535, maximumPacketSize: 268_435_455 },
    readonly clientId = 'gw-1',
  ) {
    this.script = script;
  }

  isUp(): boolean {
    return this.up;
  }

  currentUrl(): string | null {
    return this.up ? 'mqtt://scripted:1883' : null;
  }

  limits(): LinkLimits {
    return this.limitsValue;
  }

  freeSlots(): number {
    return this.up ? Math.max(0, this.limitsValue.receiveMaximum - this.inFlight.size) : 0;
  }

  listen(listener: (e: LinkEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(topic: string, payload: Buffer, observer: SendObserver): boolean {
    if (!this.up) return false;
    const parsed = parseCommandTopic(topic);
    if (!parsed) throw new Error(`agent sent a topic that is not a file-transfer command: ${topic}`);
    const packetId = this.nextPacketId++;
    const cmd: SentCommand = { seq: this.sent.length, topic, parsed, payload: Buffer.from(payload), packetId, connection: this.connection, observer, answered: false };
    this.sent.push(cmd);
    this.inFlight.set(packetId, cmd);
    this.maxObservedInFlight = Math.max(this.maxObservedInFlight, this.inFlight.size);
    observer.sent(packetId);
    const answer = this.script(cmd, this);
    setImmediate(() => this.deliver(cmd, answer));
    return true;
  }

  /** Answers a command by hand (for answers the script held back). */
  deliver(cmd: SentCommand, answer: Answer): void {
    if (cmd.connection !== this.connection || !this.up) return;
    if (answer.response) this.respond(cmd.topic, cmd.packetId, answer.response.reasonCode, answer.response.description);
    if (answer.puback !== undefined && answer.puback !== null && this.inFlight.get(cmd.packetId) === cmd) {
      this.inFlight.delete(cmd.packetId);
      cmd.answered = true;
      const info = { packetId: cmd.packetId, reasonCode: this.protocolVersion === 5 ? answer.puback : 0 };
      cmd.observer.acked(answer.reasonString ? { ...info, reasonString: answer.reasonString } : info);
      this.emit({ kind: 'slot' });
    }
  }

  respond(topic: string, packetId: number, reasonCode: number, description: string): void {
    const parsed = parseFileResponse(encodeFileResponse({ topic, packetId, reasonCode, reasonDescription: description }));
    if (parsed.ok) this.emit({ kind: 'response', response: parsed.response });
  }

  /** The connection drops: everything in flight is lost. */
  drop(reason = 'scripted drop'): void {
    this.up = false;
    const lost = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const c of lost) c.observer.lost();
    this.emit({ kind: 'down', url: 'mqtt://scripted:1883', reason });
  }

  reconnect(): void {
    this.connection += 1;
    this.up = true;
    this.emit({ kind: 'up', url: 'mqtt://scripted:1883', limits: this.limitsValue });
  }

  giveUp(): void {
    this.up = false;
    this.emit({ kind: 'failed', error: new FtError('CONNECT_FAILED', 'scripted: gave up reconnecting', { transient: true }) });
  }

  inFlightCount(): number {
    return this.inFlight.size;
  }

  emit(e: LinkEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  topics(): string[] {
    return this.sent.map((c) => c.topic);
  }

  /** Rebuilds the file from the segments the broker accepted (last write wins). */
  assemble(size: number, accepted: (c: SentCommand) => boolean = () => true): Buffer {
    const out = Buffer.alloc(size);
    for (const c of this.sent) {
      if (c.parsed.command.kind === 'segment' && accepted(c)) c.payload.copy(out, c.parsed.command.offset);
    }
    return out;
  }
}
