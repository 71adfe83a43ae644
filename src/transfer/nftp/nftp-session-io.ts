/**
 * The plumbing both nftp sessions share: one pending timer per session that turns into an event,
 * and publishing an encoded packet with link failures reported as a transient DISCONNECTED.
 */
import { FtError } from '../../errors';
import type { Clock } from '../../time/clock';
import type { Logger } from '../../log';
import { decode, encode } from '../../protocol/nftp-codec';
import type { NftpPacket, NftpWidth } from '../../protocol/nftp-packets';
import type { NftpLink } from './nftp-ports';

export interface TimedSession<E> {
  readonly clock: Clock;
  timer: (() => void) | undefined;
  dispatch(e: E): void;
}

export function stopTimer<E>(c: TimedSession<E>): void {
  const cancel = c.timer;
  c.timer = undefined;
  cancel?.();
}

/** Replaces the session's pending timer: a session waits for one thing at a time. */
export function setTimer<E>(c: TimedSession<E>, ms: number, event: E): void {
  stopTimer(c);
  c.timer = c.clock.after(ms, () => {
    c.timer = undefined;
    c.dispatch(event);
  });
}

export async function publishPacket(c: { readonly link: NftpLink; readonly width: NftpWidth }, packet: NftpPacket): Promise<void> {
  const bytes = encode(packet, { width: c.width });
  try {
    await c.link.publish(bytes);
  } catch (err) {
    const error: FtError = FtError.from(err, { code: 'DISCONNECTED', what: `nftp: publishing ${packet.kind.toUpperCase()} failed`, transient: true });
    throw error;
  }
}

/** Decodes one MQTT payload; a packet that does not parse is logged and dropped, never thrown. */
export function decodeOrWarn(c: { readonly width: NftpWidth; readonly log: Logger }, payload: Uint8Array): NftpPacket | undefined {
  try {
    return decode(payload, { width: c.width });
  } catch (err) {
    c.log.warn({ err }, 'nftp: ignoring a packet that does not parse');
    return undefined;
  }
}
