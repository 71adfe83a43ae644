/**
 * The server side of `broadcast` and `upload` (docs/store-flows.md §1–3): answer with a transfer slot (ok + a
 * fresh `$file/<32 hex>` topic), WAIT when the job's MaxCurrentSession tokens are all taken, or
 * ERROR/BadReq; then receive the nftp stream on that topic and record the result.
 * Fault injection: unanswered requests, WAIT storms, forced or random ERROR (StoreFaults).
 */
import { chance } from '../prng';
import type { SessionTokens } from './session-tokens';
import { startIntake, type Intake } from './nftp-intake';
import type { StoreIncoming, StoreServerContext, StoreVerbHandler } from './types';

export interface SlotHandlerOptions {
  tokens: SessionTokens;
  /** `timeout` sent with WAIT when tokens are exhausted. */
  waitTimeoutMs: number;
}

export function createSlotHandlers(options: SlotHandlerOptions): StoreVerbHandler[] {
  const active = new Map<string, Set<Intake>>();
  const waitsByTransfer = new Map<string, number>();
  let ignored = 0;

  const onRequest = (incoming: StoreIncoming, ctx: StoreServerContext): void => {
    const { faults } = ctx;
    const req = incoming.request;
    if (req.verb !== 'broadcast' && req.verb !== 'upload') return;
    if (ignored < (faults.ignoreRequests ?? 0)) {
      ignored++;
      ctx.log.debug({ requestId: req.request_id }, 'store fault: request left unanswered');
      return;
    }
    if (faults.forceAck) return ctx.respond(incoming, { ack: faults.forceAck, reason: 'fault injection' });
    if (chance(ctx.prng, faults.errorRate)) return ctx.respond(incoming, { ack: 'ERROR', reason: 'fault injection' });
    const jobId = String(req.job_id);
    if (req.path === '' || jobId === '') {
      return ctx.respond(incoming, { ack: 'BadReq', reason: req.path === '' ? 'path is empty' : 'job_id is missing' });
    }
    const key = `${incoming.clientId}\u0000${jobId}\u0000${String(req.task_id)}\u0000${req.path}`;
    const storm = faults.waitStormCount ?? 0;
    const waited = waitsByTransfer.get(key) ?? 0;
    if (waited < storm) {
      waitsByTransfer.set(key, waited + 1);
      return ctx.respond(incoming, { ack: 'WAIT', timeout: faults.waitTimeoutMs ?? 50 });
    }
    const token = options.tokens.take(jobId);
    if (!token) {
      ctx.log.debug({ jobId, inUse: options.tokens.inUse(jobId) }, 'store: job at MaxCurrentSession; WAIT');
      return ctx.respond(incoming, { ack: 'WAIT', timeout: options.waitTimeoutMs });
    }
    waitsByTransfer.delete(key);
    const intake = startIntake(ctx, { clientId: incoming.clientId, jobId, path: req.path });
    let set = active.get(incoming.clientId);
    if (!set) active.set(incoming.clientId, (set = new Set()));
    set.add(intake);
    const mine = set;
    ctx.respond(incoming, { ack: 'ok', topic: intake.topic });
    const base = {
      verb: req.verb,
      clientId: incoming.clientId,
      request_id: req.request_id,
      job_id: jobId,
      task_id: String(req.task_id),
      script_id: String(req.script_id),
      path: req.path,
      topic: intake.topic,
      file: intake.target,
    };
    intake.done
      .finally(() => {
        // The token goes back when the transfer ends, whichever way (docs/store-flows.md §3), before the result is
        // recorded: whoever waits for the result sees the slot free.
        token.release();
        mine.delete(intake);
        ctx.releaseTopic(intake.topic);
      })
      .then(
        (r) => ctx.record({ at: new Date().toISOString(), ...base, ok: true, size: r.size, filehash: r.filehash, givemes: r.givemesSent }),
        (err: unknown) => ctx.record({ at: new Date().toISOString(), ...base, ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  };

  const onDisconnect = (clientId: string): void => {
    // A dev-broker simplification: the agent's nftp session does not survive its connection, so the
    // slot is freed at once instead of after the receiver's GIVEME rounds run out.
    for (const intake of active.get(clientId) ?? []) intake.abort(`client ${clientId} disconnected`);
    active.delete(clientId);
  };

  return [
    { verb: 'broadcast', onRequest, onDisconnect },
    { verb: 'upload', onRequest, onDisconnect: () => undefined },
  ];
}
