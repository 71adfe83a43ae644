import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { findCoverage } from './coverage';
import type { ExportStore, ExportWriter } from './export-store';
import { fail, fileErrorReason, type FtResult, OK } from './ft-result';
import type { SegmentStore, Transfer } from './segment-store';

/**
 * One assembly run, as `emqx_ft_assembler` does it (docs/emqx-ft.md §5): list the fragments once, require
 * exactly one filemeta and a chain from 0 to the fin size, stream the chain through SHA-256 into
 * the exporter, then check the checksum (the fin's wins over the init's). On success the
 * fragments are garbage-collected; on failure they are kept so the client can fill gaps and
 * send fin again. Memory is one segment at a time, whatever the file size.
 */
export interface AssemblyRequest {
  transfer: Transfer;
  size: bigint;
  /** Upper-case hex from the fin topic. */
  finChecksum?: string;
  /** Fault: extra time before the result (`assemblyDelayMs`). */
  delayMs: number;
  signal: AbortSignal;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export async function runAssembly(segments: SegmentStore, exports: ExportStore, req: AssemblyRequest): Promise<FtResult> {
  const { transfer } = req;
  let fragments;
  try {
    fragments = await segments.listFragments(transfer);
  } catch {
    // EMQX's assembler crashes on a listing error; the responder reports the crash this way.
    return fail('internal_error');
  }
  if (req.delayMs > 0) await req.sleep(req.delayMs, req.signal);
  const [meta, ...others] = fragments.metas;
  if (meta === undefined) return fail('incomplete');
  if (others.length > 0) return fail('inconsistent');
  const chain = findCoverage(fragments.segments, req.size);
  if (chain === null) return fail('incomplete');

  let writer: ExportWriter;
  try {
    writer = await exports.start(transfer, meta);
  } catch (err) {
    return fail(fileErrorReason(err));
  }
  const hash = createHash('sha256');
  // Sink mode kept no payloads: the chain is complete, the checksum cannot be checked.
  const sunk = chain.some((seg) => seg.path === null);
  try {
    for (const seg of chain) {
      if (req.signal.aborted) throw new Error('broker closing');
      if (seg.path === null) continue;
      let content: Buffer;
      try {
        content = await fs.readFile(seg.path);
      } catch {
        await writer.discard();
        return fail('read_segment');
      }
      hash.update(content);
      await writer.write(content);
    }
    const expected = req.finChecksum ?? meta.checksum;
    const computed = sunk ? (expected ?? '') : hash.digest('hex').toUpperCase();
    if (expected !== undefined && expected !== computed) {
      // `{checksum_mismatch, Algo, Hex}` is a 3-tuple, which EMQX formats as internal_error (docs/emqx-ft.md §7.3).
      await writer.discard();
      return fail('internal_error');
    }
    await writer.complete(computed);
  } catch (err) {
    await writer.discard().catch(() => undefined);
    return fail(fileErrorReason(err));
  }
  await segments.collect(transfer).catch(() => undefined);
  return OK;
}
