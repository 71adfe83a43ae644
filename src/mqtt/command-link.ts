/**
 * The port an upload session talks to: publish a file-transfer command at QoS 1 and hear its raw
 * PUBACK, its packet id, `$file-response` messages and link up/down. Implemented over MQTT.js by
 * CommandChannel; session tests use a scripted fake. Several sessions may share one link: its free
 * slots (≤ the broker's Receive Maximum) are a budget shared by all of them.
 */
import type { FtError } from '../errors';
import type { FileResponse } from '../protocol/emqx-ft-response';
import type { LinkLimits } from './connection';

export type { LinkLimits } from './connection';

export interface PubackInfo {
  packetId: number;
  /** The raw reason code (0x10 included; always 0 on MQTT 3.1.1, whose PUBACK carries none). */
  reasonCode: number;
  reasonString?: string;
}

export interface SendObserver {
  /** The PUBLISH went on the wire with this packet id. */
  sent(packetId: number): void;
  acked(info: PubackInfo): void;
  /** The link went down before the PUBACK came. */
  lost(): void;
}

export type LinkEvent =
  | { kind: 'up'; url: string; limits: LinkLimits }
  | { kind: 'down'; url: string; reason: string }
  | { kind: 'failed'; error: FtError }
  | { kind: 'response'; response: FileResponse }
  /** A slot of the shared window freed up. */
  | { kind: 'slot' };

export interface CommandLink {
  readonly clientId: string;
  readonly protocolVersion: 4 | 5;
  isUp(): boolean;
  currentUrl(): string | null;
  limits(): LinkLimits;
  /** Publishes that may still go out before the broker's Receive Maximum is reached. */
  freeSlots(): number;
  /** Returns false (and sends nothing) when the link is down. */
  send(topic: string, payload: Buffer, observer: SendObserver): boolean;
  listen(listener: (e: LinkEvent) => void): () => void;
  /**
   * The transfer moved forward (the broker confirmed something it had not before): reconnect
   * cycles without progress count against a bound, so a link that only ever re-sends stops.
   */
  markProgress?(): void;
}
