import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PublishInterceptor } from '../../src/devbroker/index';
import { createPrng } from '../../src/devbroker/index';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { broker, exportsOf, sampleFile, until } from './helpers';
import { agentBundle, ensureFreshBundles } from '../helpers/fresh-bundles';

const agent = agentBundle;
const CHUNK = 16_384;
const WINDOW = 8;
const EVERY_BYTES = 256 * 1024;
const KILLS_IN_SEGMENTS = 22;
const KILLS_IN_FIN = 2;

let root: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ftagent-kill9-'));
  await ensureFreshBundles();
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface AuditLine {
  client: string;
  topic: string;
  bytes: number;
}

function auditLines(path: string): AuditLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AuditLine);
}

/** Segment topics are `$file/<fileId>/<offset>`. */
function segmentOffset(topic: string): string | null {
  const parts = topic.split('/');
  return parts.length >= 3 && /^\d+$/.test(parts[2] ?? '') ? `${parts[1]}@${parts[2]}` : null;
}

describe('the daemon as a real process, killed with SIGKILL', () => {
  it('delivers every file byte-exact and re-sends at most window × chunk + checkpoint interval per restart', async () => {
    const prng = createPrng(20240607);
    // Kill when this boot's broker has seen `target` segments, or at its first fin.
    let segmentsThisBoot = 0;
    let target = Number.POSITIVE_INFINITY;
    let killAtFin = false;
    let child = null as ChildProcess | null;
    let killedAtFin = 0;
    const observer: PublishInterceptor = {
      name: 'kill-trigger',
      onPublish(msg) {
        if (msg.clientId !== 'gw-kill' || !child) return null;
        if (segmentOffset(msg.topic)) {
          segmentsThisBoot++;
          if (segmentsThisBoot >= target) child.kill('SIGKILL');
        } else if (killAtFin && /\/fin(\/|$)/.test(msg.topic)) {
          killedAtFin++;
          child.kill('SIGKILL');
        }
        return null;
      },
    };
    const audit = join(root, 'audit.jsonl');
    const b = await broker(join(root, 'broker'), { auditLog: audit, interceptors: [observer], faults: { assemblyDelayMs: 400 } });
    const stateDir = join(root, 'state');
    const cfg = join(root, 'config.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        brokers: [`mqtt://127.0.0.1:${b.port}`],
        clientId: 'gw-kill',
        stateDir,
        upload: { chunkSize: CHUNK, window: WINDOW },
        checkpoint: { everyBytes: EVERY_BYTES, everyMs: 600_000 },
        log: { level: 'warn' },
      }),
    );
    mkdirSync(join(root, 'src'));
    const big = sampleFile(join(root, 'src/big.bin'), 8 * 1024 * 1024, 1);
    const small = sampleFile(join(root, 'src/small.bin'), 1024 * 1024, 2);
    const spool = await Spool.open(createNodeDurableFs(), stateDir);
    const bigId = await spool.enqueue({ kind: 'upload', file: join(root, 'src/big.bin') });
    const smallId = await spool.enqueue({ kind: 'upload', file: join(root, 'src/small.bin') });

    const boots: number[] = [0];
    let stderr = '';
    const boot = (): Promise<number | null> => {
      segmentsThisBoot = 0;
      const p = spawn(process.execPath, [agent, 'run', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
      p.stderr?.on('data', (d) => (stderr += String(d)));
      child = p;
      return new Promise((done) => p.once('exit', (code) => done(code)));
    };
    const settleAudit = async (): Promise<void> => {
      let last = -1;
      for (;;) {
        await new Promise((r) => setTimeout(r, 60));
        const n = auditLines(audit).length;
        if (n === last) break;
        last = n;
      }
      boots.push(last);
    };

    try {
      for (let i = 0; i < KILLS_IN_SEGMENTS; i++) {
        target = 8 + Math.floor(prng() * 50);
        const code = await boot();
        expect(code, stderr).toBe(null);
        await settleAudit();
      }
      target = Number.POSITIVE_INFINITY;
      killAtFin = true;
      while (killedAtFin < KILLS_IN_FIN) {
        await boot();
        await settleAudit();
      }
      killAtFin = false;
      const exit = boot();
      await until('both jobs done', async () => (await spool.get(bigId))?.state === 'done' && (await spool.get(smallId))?.state === 'done', 60_000, 100);
      child?.kill('SIGTERM');
      expect(await exit, stderr).toBe(0);
    } finally {
      child?.kill('SIGKILL');
      await b.stop();
    }

    const exported = exportsOf(b.dataDir, 'gw-kill');
    expect(exported.get(bigId)?.equals(big)).toBe(true);
    expect(exported.get(smallId)?.equals(small)).toBe(true);
    expect(exported.size).toBe(2);

    // Re-sent bytes per restart: segments a boot publishes at offsets an earlier boot published.
    const lines = auditLines(audit).filter((l) => l.client === 'gw-kill');
    const seen = new Set<string>();
    const resent: number[] = [];
    for (let r = 0; r < boots.length; r++) {
      const slice = lines.slice(boots[r], boots[r + 1] ?? lines.length);
      let bytes = 0;
      for (const l of slice) {
        const key = segmentOffset(l.topic);
        if (key && seen.has(key)) bytes += l.bytes;
      }
      for (const l of slice) {
        const key = segmentOffset(l.topic);
        if (key) seen.add(key);
      }
      if (r > 0) resent.push(bytes);
    }
    const bound = WINDOW * CHUNK + EVERY_BYTES;
    expect(Math.max(...resent)).toBeLessThanOrEqual(bound);
    expect(boots.length).toBeGreaterThanOrEqual(KILLS_IN_SEGMENTS + KILLS_IN_FIN);
  }, 150_000);
});
