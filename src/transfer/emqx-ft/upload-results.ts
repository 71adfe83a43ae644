/**
 * What an upload session does with one command's result: the reason-code policy
 * (protocol/reason-codes.ts says what a code means; this file applies it with its bounds).
 * Nothing here changes the machine's state: the table's guards read what these handlers leave.
 */
import { FtError } from '../../errors';
import { backoffDelay } from '../../time/backoff';
import { actionFor, describeReasonCode } from '../../protocol/reason-codes';
import { abandonAll, fail, queueResend, retire, retryAfter, type Cmd } from './upload-commands';
import type { Pause, UploadSession } from './upload-session';

export function brokerName(s: UploadSession): string {
  return s.ports.link.currentUrl() ?? s.ports.link.clientId;
}

export function retryDelay(s: UploadSession, attempt: number): number {
  return backoffDelay(attempt, s.options.retry.backoff, s.ports.random);
}

export function report(s: UploadSession): void {
  s.options.onProgress?.(s.snapshot());
}

export function startPause(s: UploadSession, then: Pause['then'], ms: number): void {
  s.pause?.cancel();
  const cancel = s.ports.clock.after(ms, () => s.post({ kind: 'resume' }));
  s.pause = { then, cancel };
}

function resolveDone(s: UploadSession, cmd: Cmd): void {
  retire(cmd);
  s.outstanding.delete(cmd.topic);
  const c = cmd.command;
  if (c.kind === 'segment') {
    s.confirmed.add(c.offset, c.offset + cmd.payload.length);
    s.nodes.confirm(brokerName(s), c.offset, c.offset + cmd.payload.length);
    s.pauses = 0;
    s.dropsWithoutProgress = 0;
    report(s);
  } else if (c.kind === 'init' && s.stage === 'init') {
    s.stage = 'segments';
    report(s);
  } else if (c.kind === 'fin' && cmd.topic === s.finTopic) {
    s.finished = true;
  }
}

function brokerSaid(rcode: number, reason: string): string {
  return reason ? `${describeReasonCode(rcode)} "${reason}"` : describeReasonCode(rcode);
}

/** Applies the reason-code policy to one command's result. */
export function applyResult(s: UploadSession, cmd: Cmd, reasonCode: number, reason: string): void {
  const kind = cmd.command.kind;
  const action = actionFor(kind, reasonCode, reason);
  if (action === 'done' && reasonCode === 0) {
    // The common case, once per segment: no description to build (it would be garbage at once).
    resolveDone(s, cmd);
    return;
  }
  const said = brokerSaid(reasonCode, reason);
  if (reasonCode !== 0) s.ports.logger.debug({ topic: cmd.topic, reasonCode, reason, action }, 'command result');
  const retry = s.options.retry;
  switch (action) {
    case 'done':
      resolveDone(s, cmd);
      return;
    case 'resend': {
      if (cmd.attempts >= retry.maxCommandAttempts) {
        const code = kind === 'init' ? 'FT_REJECTED' : 'GAVE_UP';
        fail(
          s,
          new FtError(code, `broker ${brokerName(s)} answered ${said} to ${cmd.topic} ${cmd.attempts} times; giving up`, {
            transient: code === 'GAVE_UP',
            details: { reasonCode, reason, topic: cmd.topic },
          }),
        );
        return;
      }
      retryAfter(s, cmd, retryDelay(s, cmd.attempts));
      return;
    }
    case 'resend-all': {
      s.resendAlls += 1;
      if (s.resendAlls > retry.maxResendAll) {
        fail(
          s,
          new FtError('GAVE_UP', `broker ${brokerName(s)} answered ${said} to fin after sending the whole file ${s.resendAlls} times; giving up`, {
            transient: true,
            details: { reasonCode, reason },
          }),
        );
        return;
      }
      if (s.resendAlls === 1) {
        sendAgainWhatOtherNodesHeld(s, said);
        return;
      }
      s.ports.logger.warn({ fileId: s.setup.fileId, reason: said }, 'broker is missing data at fin; sending the whole file again');
      startOver(s, s.resendAlls);
      return;
    }
    case 'restart': {
      s.restarts += 1;
      if (s.restarts > retry.maxRestarts) {
        fail(
          s,
          new FtError('FT_UNAVAILABLE', `broker ${brokerName(s)} answered 0x10 to every file-transfer command: file transfer is probably not enabled on it (EMQX: file_transfer.enable = true)`, {
            transient: true,
            details: { reasonCode, broker: brokerName(s) },
          }),
        );
        return;
      }
      s.ports.logger.warn({ fileId: s.setup.fileId, topic: cmd.topic }, 'broker answered 0x10 (not handled): starting over from offset 0');
      startOver(s, s.restarts);
      return;
    }
    case 'pause': {
      cmd.cancelTimer?.();
      cmd.cancelTimer = null;
      queueResend(s, cmd);
      if (s.pause) return;
      s.pauses += 1;
      if (s.pauses > retry.maxPauses) {
        fail(
          s,
          new FtError('GAVE_UP', `broker ${brokerName(s)} kept answering ${said}; giving up after ${retry.maxPauses} pauses`, {
            transient: true,
            details: { reasonCode },
          }),
        );
        return;
      }
      startPause(s, 'send', Math.max(retry.backoff.baseMs, retryDelay(s, s.pauses)));
      return;
    }
    case 'cancel':
      fail(
        s,
        new FtError('FT_CANCELLED', `broker ${brokerName(s)} answered ${said} to ${cmd.topic}: it asks to cancel this transfer`, {
          details: { reasonCode, reason },
        }),
      );
      return;
    case 'reject':
      fail(s, new FtError('FT_REJECTED', `broker ${brokerName(s)} rejected ${cmd.topic}: ${said}`, { details: { reasonCode, reason, topic: cmd.topic } }));
      return;
  }
}

/**
 * `incomplete` at fin, the first time: the broker lost segments it had confirmed. Only what other
 * cluster nodes confirmed (and the current one did not) is sent again, which is nothing on a single
 * node: then the fin alone is repeated (EMQX 5.3.2's sync PUBACK gives no reason, and an assembly
 * that outlived `assemble_timeout` is found by the next fin). The whole file is the last resort.
 */
function sendAgainWhatOtherNodesHeld(s: UploadSession, said: string): void {
  const current = brokerName(s);
  const lost = s.nodes.heldOnlyElsewhere(current);
  abandonAll(s);
  for (const [start, end] of lost) s.confirmed.remove(start, end);
  const bytes = lost.reduce((n, [a, b]) => n + (b - a), 0);
  s.ports.logger.warn({ fileId: s.setup.fileId, reason: said, node: current, bytes }, 'broker is missing data at fin; sending again what other nodes had confirmed');
  report(s);
  startPause(s, 'restart', retryDelay(s, s.resendAlls));
}

/** Forget everything the broker confirmed and, after a backoff, send the whole file again. */
function startOver(s: UploadSession, attempt: number): void {
  abandonAll(s);
  s.confirmed.clear();
  s.nodes.clear();
  report(s);
  startPause(s, 'restart', retryDelay(s, attempt));
}
