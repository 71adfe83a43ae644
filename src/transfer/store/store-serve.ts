/**
 * The serving side of `download` (docs/store-flows.md §1): other clients on the broker (the store's own devices,
 * `ftagent fetch` on another gateway) ask for a file by path on `$file_sniffer/v1/download/{their id}`;
 * this agent answers from `store.serve.roots` only and streams the file as nftp on a fresh
 * `$file/<32 hex>` topic, repairing with GIVEME.
 *
 *   path confined, regular file  → ok + topic, then HELLO / FILE… END / linger answering GIVEME
 *   `..`, absolute elsewhere, a symlink out, a folder, a device   → NOT_ALLOW
 *   missing                      → NOT_EXIST
 *   anything else (unreadable, too many blocks, all slots busy)   → ERROR with a reason
 *
 * At most `maxConcurrent` files are being sent at once; a send gives its slot back once END is out,
 * and its linger goes on in the background, at most `maxLingering` of them (the oldest is cut short).
 * The requester subscribes only after reading the answer, so HELLO is resent a few times, quickly.
 */
import { randomBytes } from 'node:crypto';
import { FtError, isFtError } from '../../errors';
import { silentLogger, type Logger } from '../../log';
import type { Clock } from '../../time/clock';
import type { SniffAck } from '../../protocol/file-sniffer';
import { defaultNftpBlockSize, nftpBaseName, planNftpBlocks } from '../../protocol/nftp-blocks';
import { defaultNftpWidth } from '../../protocol/nftp-packets';
import { confineExisting, prepareRoots, type ConfineRoot } from './confine';
import { openNftpFileSource } from '../nftp/nftp-file-source';
import { NftpSender } from '../nftp/nftp-sender';
import type { ForeignDownloadHandler, ForeignDownloadRequest, NftpTopic } from '../../mqtt/store-channel';
import type { StoreUploadNftpOptions } from './store-upload';

/** What serving needs of the link (the daemon's StoreLink, or one StoreChannel). */
export interface ServeLink {
  serveDownloads(handler: ForeignDownloadHandler): () => void;
  respondTo(verb: 'download', clientId: string, requestFields: Record<string, unknown>, fields: { ack: SniffAck; topic?: string; reason?: string }): Promise<void>;
  openNftpTopic(topic: string): Promise<NftpTopic>;
}

export interface FileServingOptions {
  link: ServeLink;
  /** Folders files are served from; a relative request path is taken from the first. */
  roots: readonly string[];
  /** Files being sent at once (linger not counted). Default 4. */
  maxConcurrent?: number;
  nftp?: StoreUploadNftpOptions;
  clock: Clock;
  logger?: Logger;
}

export interface FileServing {
  /** Resolves once the roots are checked and requests are listened for. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export const defaultServeMaxConcurrent = 4;

export function startFileServing(o: FileServingOptions): FileServing {
  const log = (o.logger ?? silentLogger).child({ component: 'store-serve' });
  const maxConcurrent = o.maxConcurrent ?? defaultServeMaxConcurrent;
  const maxLingering = 4 * maxConcurrent;
  const sending = new Set<NftpSender>();
  const lingering: NftpSender[] = [];
  const runs = new Set<Promise<unknown>>();
  let roots: readonly ConfineRoot[] = [];
  let stopped = false;
  let off: (() => void) | undefined;

  const answer = (req: ForeignDownloadRequest, ack: SniffAck, extra: { topic?: string; reason?: string } = {}): Promise<void> =>
    o.link.respondTo('download', req.clientId, req.fields, { ack, ...extra });

  const serve = async (req: ForeignDownloadRequest): Promise<void> => {
    const asked = req.request.path;
    const where = { requester: req.clientId, requestId: req.request.request_id, path: asked };
    if (stopped) return;
    if (sending.size >= maxConcurrent) {
      log.info(where, 'download refused: every serving slot is busy');
      return answer(req, 'ERROR', { reason: `busy: ${sending.size} download(s) running (store.serve.maxConcurrent); ask again later` });
    }
    let file: string;
    try {
      const found = await confineExisting(roots, asked);
      if (found.type !== 'file') throw new FtError('NOT_ALLOWED', `${asked} is a folder; only files can be downloaded`);
      file = found.path;
    } catch (err) {
      const ack: SniffAck = isFtError(err, 'NOT_ALLOWED') ? 'NOT_ALLOW' : isFtError(err, 'NOT_FOUND') ? 'NOT_EXIST' : 'ERROR';
      const reason = err instanceof Error ? err.message : String(err);
      log.info({ ...where, ack }, `download refused: ${reason}`);
      return answer(req, ack, { reason });
    }
    const blockSize = o.nftp?.blockSize ?? defaultNftpBlockSize;
    const width = o.nftp?.width ?? defaultNftpWidth;
    const source = await openNftpFileSource(file, blockSize).catch((err: unknown) => err as Error);
    if (source instanceof Error) return answer(req, 'ERROR', { reason: source.message });
    let topic: NftpTopic | undefined;
    let sender: NftpSender;
    try {
      planNftpBlocks(source.size, blockSize, width);
      topic = await o.link.openNftpTopic(`$file/${randomBytes(16).toString('hex')}`);
      const n = o.nftp ?? {};
      sender = new NftpSender({
        link: topic.link,
        source,
        clock: o.clock,
        log,
        name: nftpBaseName(file),
        blockSize,
        width,
        topic: topic.topic,
        helloTimeoutMs: n.helloTimeoutMs ?? 1000,
        helloRetries: n.helloRetries ?? 5,
        ...(n.window !== undefined ? { window: n.window } : {}),
        ...(n.intervalMs !== undefined ? { intervalMs: n.intervalMs } : {}),
        ...(n.lingerMs !== undefined ? { lingerMs: n.lingerMs } : {}),
        onAllSent: () => moveToLingering(sender),
      });
      topic.onPacket((bytes) => sender.receive(bytes));
      await answer(req, 'ok', { topic: topic.topic });
    } catch (err) {
      await topic?.close().catch(() => undefined);
      await source.close().catch(() => undefined);
      const reason = err instanceof Error ? err.message : String(err);
      log.warn(where, `download not started: ${reason}`);
      return answer(req, 'ERROR', { reason }).catch(() => undefined);
    }
    sending.add(sender);
    log.info({ ...where, file, topic: topic.topic, size: source.size }, 'serving a download');
    const t = topic;
    const run = sender
      .run()
      .then(
        (r) => log.info({ ...where, blocks: r.blocks, resent: r.blocksResent }, 'download served'),
        (err: unknown) => log.warn(where, `download failed: ${err instanceof Error ? err.message : String(err)}`),
      )
      .finally(async () => {
        sending.delete(sender);
        const i = lingering.indexOf(sender);
        if (i >= 0) lingering.splice(i, 1);
        runs.delete(run);
        await t.close().catch(() => undefined);
        await source.close().catch(() => undefined);
      });
    runs.add(run);
  };

  function moveToLingering(sender: NftpSender): void {
    sending.delete(sender);
    lingering.push(sender);
    while (lingering.length > maxLingering) lingering.shift()?.abort('too many downloads lingering; the oldest stops answering GIVEME');
  }

  const ready = (async () => {
    const prepared = await prepareRoots(o.roots, { create: false });
    for (const problem of prepared.problems) log.warn(`store.serve.roots: ${problem}; nothing is served from it`);
    roots = prepared.roots;
    if (!stopped) off = o.link.serveDownloads((req) => serve(req));
    log.info({ roots: o.roots, maxConcurrent }, 'serving downloads');
  })();

  return {
    ready,
    async stop() {
      stopped = true;
      off?.();
      await ready.catch(() => undefined);
      for (const s of [...sending, ...lingering]) s.abort('the agent is stopping');
      await Promise.all([...runs]);
    },
  };
}
