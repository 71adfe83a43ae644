import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon/daemon';
import type { BrokerFaults, PublishInterceptor } from '../../src/devbroker/index';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { broker, daemonConfig, quietLog, sampleFile, until } from './helpers';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-abort-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A daemon with one queued job against a development broker that audits every publish. */
async function scenario(opts: { faults?: BrokerFaults; interceptors?: PublishInterceptor[] }) {
  const at = join(root, `case-${++n}`);
  const audit = `${at}-audit.jsonl`;
  const b = await broker(`${at}-broker`, { auditLog: audit, ...opts });
  const fs = createNodeDurableFs();
  const spool = await Spool.open(fs, `${at}-state`);
  sampleFile(`${at}.bin`, 50_000);
  const id = await spool.enqueue({ kind: 'upload', file: `${at}.bin` });
  const config = await daemonConfig(`${at}-state`, b.port);
  const daemon = await Daemon.start({ config, fs, logger: quietLog, pollMs: 20, retryBackoff: { baseMs: 60_000, capMs: 60_000 } });
  const aborts = (): number =>
    readFileSync(audit, 'utf8')
      .split('\n')
      .filter((l) => l.includes(`/${id}/abort"`)).length;
  const stop = async (): Promise<void> => {
    await daemon.stop();
    await b.stop();
  };
  return { spool, id, aborts, stop };
}

describe('abort is sent only when a transfer is given up for good', () => {
  it('is not sent when an attempt fails transiently and the job stays queued to resume', async () => {
    const s = await scenario({ faults: { fileTransferDisabled: true } });
    try {
      await until('the first attempt failed and was noted', async () => /FT_UNAVAILABLE/.test(JSON.stringify(await s.spool.get(s.id))), 30_000);
      expect(['queued', 'active']).toContain((await s.spool.get(s.id))?.state);
    } finally {
      await s.stop();
    }
    expect(s.aborts()).toBe(0);
  }, 60_000);

  it('is sent when the broker rejects the transfer for good', async () => {
    const rejectInit: PublishInterceptor = { name: 'reject init', onPublish: (m) => (m.topic.endsWith('/init') ? { kind: 'ack', reasonCode: 0x87 } : null) };
    const s = await scenario({ interceptors: [rejectInit] });
    try {
      await until('job failed', async () => (await s.spool.get(s.id))?.state === 'failed');
      await until('abort published', () => s.aborts() === 1);
    } finally {
      await s.stop();
    }
  }, 60_000);

  it('is sent when a running upload is cancelled', async () => {
    let release: (rc: number) => void = () => undefined;
    const held = new Promise<number>((r) => (release = r));
    const holdFin: PublishInterceptor = { name: 'hold fin', onPublish: (m) => (m.topic.includes('/fin/') ? { kind: 'ack', reasonCode: held } : null) };
    const s = await scenario({ interceptors: [holdFin] });
    try {
      await until('upload waiting for fin', async () => (await s.spool.readCheckpoint(s.id))?.stage === 'fin');
      await s.spool.requestCancel(s.id);
      await until('job cancelled', async () => (await s.spool.get(s.id))?.state === 'cancelled');
      await until('abort published', () => s.aborts() === 1);
    } finally {
      release(0x80);
      await s.stop();
    }
  }, 60_000);
});
