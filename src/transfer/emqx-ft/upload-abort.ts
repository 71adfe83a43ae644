/** Best-effort `abort` when an upload gives up: never throws, waits at most `waitMs` for the PUBACK. */
import type { Logger } from '../../log';
import type { Clock } from '../../time/clock';
import type { CommandLink } from '../../mqtt/command-link';
import { commandTopic, type FtMode } from '../../protocol/emqx-ft-topics';

export function sendAbort(link: CommandLink, mode: FtMode, fileId: string, clock: Clock, waitMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    if (!link.isUp()) return resolve(false);
    let cancel: () => void = () => undefined;
    const done = (ok: boolean): void => {
      cancel();
      resolve(ok);
    };
    const sent = link.send(commandTopic(mode, fileId, { kind: 'abort' }), Buffer.alloc(0), {
      sent: () => undefined,
      acked: () => done(true),
      lost: () => done(false),
    });
    if (!sent) return resolve(false);
    cancel = clock.after(waitMs, () => resolve(false));
  });
}

/** Tells the broker this transfer is given up for good (only then: it may drop confirmed segments). */
export async function abandonTransfer(link: CommandLink, mode: FtMode, fileId: string, clock: Clock, logger: Logger): Promise<void> {
  const aborted = await sendAbort(link, mode, fileId, clock);
  logger.debug({ fileId, aborted }, 'abort sent: transfer given up');
}
