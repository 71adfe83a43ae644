/**
 * The server side of `download` (docs/store-flows.md §1): a store asks for a file by path; the store server answers
 * from `<dataDir>/store/files/` with `ack: ok` and a fresh `$file/<32 hex>` topic, then sends it with
 * nftp there. A path outside that folder (`..`, absolute elsewhere, a symlink out) is NOT_ALLOW, a
 * missing one NOT_EXIST, anything else that goes wrong ERROR.
 *
 * The requester subscribes only after reading the answer, so HELLO waits `startDelayMs` and is resent
 * quickly (`helloTimeoutMs`); the TS receiver ACKs a repeated HELLO.
 */
import path from 'node:path';
import { isFtError } from '../../errors';
import type { NftpSendFaults } from './push-faults';
import { resolveStoreFile } from './push-file';
import { prepareStoreNftpSend } from './push-nftp-sender';
import type { StoreIncoming, StoreServerContext, StoreVerbHandler } from './types';

export interface DownloadHandlerOptions {
  /** Applied to every download's nftp send. */
  faults?: NftpSendFaults;
  /** Wait between the ok and HELLO. Default 100 ms. */
  startDelayMs?: number;
  /** First wait for the ACK before HELLO is resent. Default 1000 ms. */
  helloTimeoutMs?: number;
  /** Quiet time after END while answering GIVEME. Default 30 s. */
  lingerMs?: number;
  intervalMs?: number;
  window?: number;
}

export interface DownloadHandler extends StoreVerbHandler {
  /** Changes the faults for downloads started from now on (tests). */
  setFaults(faults: NftpSendFaults | undefined): void;
}

export function createDownloadHandler(options: DownloadHandlerOptions = {}): DownloadHandler {
  let faults = options.faults;
  const running = new Set<{ abort(reason?: string): void }>();
  const cancels = new Set<() => void>();

  const serve = async (incoming: StoreIncoming, ctx: StoreServerContext): Promise<void> => {
    const req = incoming.request;
    const base = { verb: 'download' as const, clientId: incoming.clientId, request_id: req.request_id, path: req.path };
    let file: string;
    try {
      file = await resolveStoreFile(ctx, req.path);
    } catch (err) {
      const ack = isFtError(err, 'NOT_ALLOWED') ? 'NOT_ALLOW' : isFtError(err, 'NOT_FOUND') ? 'NOT_EXIST' : 'ERROR';
      const reason = err instanceof Error ? err.message : String(err);
      ctx.respond(incoming, { ack, reason });
      ctx.record({ at: new Date().toISOString(), ...base, ok: false, error: `${ack}: ${reason}` });
      return;
    }
    const send = await prepareStoreNftpSend(ctx, {
      clientId: incoming.clientId,
      file,
      name: path.basename(file),
      helloTimeoutMs: options.helloTimeoutMs ?? 1000,
      ...(faults ? { faults } : {}),
      ...(options.lingerMs !== undefined ? { lingerMs: options.lingerMs } : {}),
      ...(options.intervalMs !== undefined ? { intervalMs: options.intervalMs } : {}),
      ...(options.window !== undefined ? { window: options.window } : {}),
    });
    running.add(send);
    ctx.respond(incoming, { ack: 'ok', topic: send.topic });
    const cancel = ctx.clock.after(options.startDelayMs ?? 100, () => {
      cancels.delete(cancel);
      send
        .start()
        .then(
          (r) => ctx.record({ at: new Date().toISOString(), ...base, topic: send.topic, file, ok: true, filehash: r.filehash, givemes: r.blocksResent, blocks: r.blocks }),
          (err: unknown) => ctx.record({ at: new Date().toISOString(), ...base, topic: send.topic, file, ok: false, error: err instanceof Error ? err.message : String(err) }),
        )
        .finally(() => running.delete(send));
    });
    cancels.add(cancel);
  };

  return {
    verb: 'download',
    onRequest(incoming, ctx) {
      serve(incoming, ctx).catch((err: unknown) => {
        ctx.log.error({ err }, 'store: download failed to start');
        ctx.respond(incoming, { ack: 'ERROR', reason: err instanceof Error ? err.message : String(err) });
      });
    },
    setFaults(f) {
      faults = f;
    },
    close() {
      for (const c of cancels) c();
      cancels.clear();
      for (const s of running) s.abort('store server closing');
      running.clear();
      return Promise.resolve();
    },
  };
}
