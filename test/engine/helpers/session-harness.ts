import { createHash } from 'node:crypto';
import { silentLogger } from '../../../src/log';
import { uploadFile } from '../../../src/transfer/emqx-ft/upload';
import { withUploadDefaults, type UploadOptions, type UploadResult } from '../../../src/transfer/emqx-ft/upload-options';
import { FakeClock, flush } from '../../helpers/fake-clock';
import { MemorySource, openerFor } from './memory-source';
import type { ScriptedLink } from './scripted-link';

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export interface Run {
  promise: Promise<UploadResult>;
  clock: FakeClock;
  source: MemorySource;
}

export function startUpload(link: ScriptedLink, source: MemorySource, options: { [K in keyof UploadOptions]?: UploadOptions[K] | undefined } = {}, clock = new FakeClock(1_000_000)): Run {
  // An option given as `undefined` drops the harness default, so the agent's own default applies.
  const merged: Record<string, unknown> = { path: source.path, mode: 'sync', chunkSize: 1000, window: 4, fileId: 'f1' };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  const opts = withUploadDefaults({
    ...(merged as unknown as UploadOptions),
    retry: { maxCommandAttempts: 5, maxUnansweredInits: 3, maxRestarts: 2, maxResendAll: 2, maxPauses: 5, backoff: { baseMs: 100, capMs: 1000 }, ...options.retry },
  });
  const promise = uploadFile(opts, { link, clock, logger: silentLogger, opener: openerFor(source), random: () => 0.5 });
  promise.catch(() => undefined);
  return { promise, clock, source };
}

export type Settled = { ok: true; result: UploadResult } | { ok: false; error: unknown };

/** Lets the upload run, moving the fake clock `stepMs` at a time, until it settles. */
export async function drive(run: Run, stepMs = 100, maxSteps = 10_000): Promise<Settled> {
  let settled: Settled | null = null;
  run.promise.then(
    (result) => (settled = { ok: true, result }),
    (error: unknown) => (settled = { ok: false, error }),
  );
  for (let i = 0; i < maxSteps && settled === null; i++) {
    await flush();
    if (settled !== null) break;
    await run.clock.advance(stepMs);
  }
  if (settled === null) throw new Error('upload did not settle');
  return settled;
}
