/**
 * The life of one file-transfer command inside an upload session: made (taking a reference on its
 * chunk), queued, put on the wire (one more reference per send, released by its PUBACK or loss),
 * timed, and retired. A chunk buffer goes back to the pool only when neither the session nor any
 * socket write holds it: that is what lets MQTT.js publish it without a copy.
 */
import { FtError } from '../../errors';
import { commandTopic, type FtCommand } from '../../protocol/emqx-ft-topics';
import type { Chunk } from './chunk-reader';
import type { UploadSession } from './upload-session';

/** One command the session waits on. Identified by its topic (unique among outstanding commands). */
export interface Cmd {
  readonly topic: string;
  readonly command: FtCommand;
  readonly payload: Buffer;
  readonly chunk: Chunk | null;
  /** Sends so far, the first included. */
  attempts: number;
  /** Packet ids of its sends on the current connection (to match `$file-response`). */
  readonly packetIds: Set<number>;
  /** Sends whose PUBACK (or loss) has not come yet: the chunk buffer may still be in a socket. */
  wireRefs: number;
  /** PUBACKs that came without the result (async mode, where the result is a `$file-response`). */
  unansweredAcks: number;
  cancelTimer: (() => void) | null;
  /** Resolved or abandoned: late answers only settle buffer bookkeeping. */
  retired: boolean;
}

export function makeCmd(s: UploadSession, command: FtCommand, payload: Buffer, chunk: Chunk | null): Cmd {
  const topic = commandTopic(s.options.mode, s.setup.fileId, command);
  chunk?.ref();
  const cmd: Cmd = { topic, command, payload, chunk, attempts: 0, packetIds: new Set(), wireRefs: 0, unansweredAcks: 0, cancelTimer: null, retired: false };
  s.outstanding.set(topic, cmd);
  return cmd;
}

export function isCurrent(s: UploadSession, cmd: Cmd): boolean {
  return !cmd.retired && s.outstanding.get(cmd.topic) === cmd;
}

/** A command is finished with: stop its timer, let its buffer go once no socket holds it. */
export function retire(cmd: Cmd): void {
  if (cmd.retired) return;
  cmd.retired = true;
  cmd.cancelTimer?.();
  cmd.cancelTimer = null;
  cmd.chunk?.unref();
}

/** A send's PUBACK came or the link lost it: the socket no longer holds the chunk for it. */
export function releaseWire(cmd: Cmd): void {
  if (cmd.wireRefs > 0) {
    cmd.wireRefs -= 1;
    cmd.chunk?.unref();
  }
}

export function queueResend(s: UploadSession, cmd: Cmd): void {
  if (!s.resendQueue.includes(cmd)) s.resendQueue.push(cmd);
}

/** Forget every outstanding command (their late answers are ignored). */
export function abandonAll(s: UploadSession): void {
  for (const cmd of s.outstanding.values()) retire(cmd);
  s.outstanding.clear();
  s.resendQueue = [];
}

/** The session fails with this error (the first one wins); nothing outstanding is waited for. */
export function fail(s: UploadSession, error: FtError): void {
  if (s.error) return;
  s.error = error;
  s.ports.logger.debug({ code: error.code, err: error.message }, 'upload failing');
  abandonAll(s);
}

export function segmentsOutstanding(s: UploadSession): number {
  let n = 0;
  for (const cmd of s.outstanding.values()) if (cmd.command.kind === 'segment') n += 1;
  return n;
}

/** Puts a command on the wire (or leaves it for the reconnect when the link is down). */
export function transmit(s: UploadSession, cmd: Cmd): void {
  if (!s.linkUp || !s.ports.link.isUp()) return;
  cmd.attempts += 1;
  if (cmd.attempts > 1) s.retries += 1;
  cmd.wireRefs += 1;
  cmd.chunk?.ref();
  if (cmd.command.kind === 'segment') s.bytesSent += cmd.payload.length;
  const ok = s.ports.link.send(cmd.topic, cmd.payload, {
    sent: (packetId) => cmd.packetIds.add(packetId),
    acked: (info) => s.post({ kind: 'ack', cmd, info }),
    lost: () => s.post({ kind: 'lost', cmd }),
  });
  if (!ok) {
    releaseWire(cmd);
    return;
  }
  armTimer(s, cmd);
}

function armTimer(s: UploadSession, cmd: Cmd): void {
  cmd.cancelTimer?.();
  const ms = cmd.command.kind === 'fin' ? s.options.finTimeoutMs : s.options.commandTimeoutMs;
  cmd.cancelTimer = s.ports.clock.after(ms, () => s.post({ kind: 'timeout', cmd }));
}

/** Sends queued commands (init, fin, re-sends) while the link's shared budget has room. */
export function drainQueue(s: UploadSession): void {
  while (s.resendQueue.length > 0 && s.ports.link.freeSlots() > 0 && s.linkUp) {
    const cmd = s.resendQueue.shift();
    if (cmd && isCurrent(s, cmd)) transmit(s, cmd);
  }
}

/** Re-sends `cmd` after `ms` (a `retry` event), instead of waiting for its command timeout. */
export function retryAfter(s: UploadSession, cmd: Cmd, ms: number): void {
  cmd.cancelTimer?.();
  cmd.cancelTimer = s.ports.clock.after(ms, () => s.post({ kind: 'retry', cmd }));
}
