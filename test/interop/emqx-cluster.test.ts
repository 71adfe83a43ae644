/**
 * A cluster of two EMQX 5.3.2 nodes, each behind a counting proxy, `--broker` naming both. In the
 * middle of an upload the node in use is stopped, or killed with SIGKILL: the agent fails over to
 * the other, which answers `incomplete` at fin (the lost node held some segments); the agent sends
 * again only what the lost node had confirmed, and the file is exported byte-exact.
 * Bytes sent ≤ file size + what went to the lost node + one window.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNodeDurableFs } from '../../src/storage/node-fs';
import { Spool } from '../../src/storage/spool';
import { runCli } from '../helpers/cli-run';
import { writeContentFile } from '../helpers/content';
import { emqxStartTimeoutMs, expectEmqxExport, findEmqxExport, startEmqxCluster, type Emqx } from '../helpers/emqx';
import { agentBundle, ensureFreshBundles } from '../helpers/fresh-bundles';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

const CHUNK = 65_536;
const WINDOW = 16;
const SIZE = 24 * 1024 * 1024 + 9;
const EVERY_BYTES = 1024 * 1024;

let nodes: [Emqx, Emqx];
let dir: string;
let proxies: TcpProxy[] = [];
let seq = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ftagent-emqx-cluster-'));
  nodes = await startEmqxCluster();
}, emqxStartTimeoutMs);

afterEach(async () => {
  for (const p of proxies) await p.close();
  proxies = [];
});

afterAll(async () => {
  for (const node of nodes ?? []) {
    node.kill();
    await node.stop();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

type Loss = 'stopped' | 'killed';

/**
 * Proxies in front of both nodes; once `atBytes` segment bytes went to the first, that node is
 * lost (stopped gracefully or SIGKILLed). Resolves `lost` when the node is down.
 */
async function clusterWithLoss(loss: Loss, atBytes: number) {
  const [a, b] = nodes;
  const pa = await startTcpProxy(a.port);
  const pb = await startTcpProxy(b.port);
  proxies.push(pa, pb);
  let lost: Promise<void> | undefined;
  pa.onPublish(() => {
    if (lost || pa.counters.segmentBytes < atBytes) return;
    if (loss === 'killed') {
      a.kill();
      pa.cutNow();
      lost = Promise.resolve();
    } else {
      // Nothing more reaches the node while it shuts down; its connections then close.
      pa.pause();
      lost = a.stop().then(() => pa.cutNow());
    }
  });
  return { pa, pb, brokers: `${pa.url},${pb.url}`, lost: () => lost };
}

/** The export of the surviving node (fin assembles there). */
async function expectExported(clientId: string, fileId: string, sha: string): Promise<void> {
  const [a, b] = nodes;
  const onA = await findEmqxExport(a, clientId, fileId);
  await expectEmqxExport(onA ? a : b, clientId, fileId, sha, SIZE);
}

function report(label: string, pa: TcpProxy, pb: TcpProxy, restartCost = 0): void {
  const total = pa.counters.segmentBytes + pb.counters.segmentBytes;
  console.log(`cluster ${label}: ${SIZE} bytes; sent ${pa.counters.segmentBytes} to the lost node, ${pb.counters.segmentBytes} to the survivor; total ${total} (${(total / SIZE).toFixed(2)} x size)`);
  // Everything once, plus at most what went to the lost node, plus one window in flight (and what a
  // daemon restart may re-send: window × chunk + checkpoint.everyBytes).
  expect(total).toBeLessThanOrEqual(SIZE + pa.counters.segmentBytes + WINDOW * CHUNK + restartCost);
}

describe('ftagent send fails over between two EMQX 5.3.2 nodes', () => {
  it.each([
    ['stopped', 'sync MQTT 5', ['--mqtt', '5', '--mode', 'sync']],
    ['killed', 'async MQTT 3.1.1', ['--mqtt', '3.1.1']],
    ['killed', 'async MQTT 5', ['--mqtt', '5', '--mode', 'async']],
  ] as const)(
    "node %s mid-upload, %s: exported byte-exact, re-sending only the lost node's part",
    async (loss, label, modeFlags) => {
      const { pa, pb, brokers, lost } = await clusterWithLoss(loss, SIZE / 3);
      const file = join(dir, `send-${++seq}.bin`);
      const sha = await writeContentFile(file, SIZE, seq);
      const clientId = `cluster-${process.pid}-${seq}`;
      const run = await runCli(['send', file, '--broker', brokers, '--client-id', clientId, '--json', '--chunk-size', String(CHUNK), '--window', String(WINDOW), ...modeFlags], dir);
      await lost();
      expect(run.code, `${run.err}\n${nodes[1].logTail()}`).toBe(0);
      expect(lost()).toBeDefined();
      await expectExported(clientId, String(run.json?.fileId), sha);
      report(`${label}, node ${loss}`, pa, pb);
      await nodes[0].restart();
    },
    emqxStartTimeoutMs + 120_000,
  );
});

describe('the daemon fails over between two EMQX 5.3.2 nodes', () => {
  it(
    'node killed mid-upload, then the daemon kill -9ed and restarted: the checkpoint remembers which node held what',
    async () => {
      await ensureFreshBundles();
      const { pa, pb, brokers, lost } = await clusterWithLoss('killed', SIZE / 3);
      const root = join(dir, 'daemon');
      mkdirSync(root);
      const stateDir = join(root, 'state');
      const config = join(root, 'config.json');
      const clientId = `cluster-daemon-${process.pid}`;
      writeFileSync(
        config,
        JSON.stringify({
          brokers: brokers.split(','),
          clientId,
          stateDir,
          upload: { chunkSize: CHUNK, window: WINDOW },
          checkpoint: { everyBytes: EVERY_BYTES },
          log: { level: 'warn' },
        }),
      );
      const file = join(root, 'big.bin');
      const sha = await writeContentFile(file, SIZE, 77);
      const spool = await Spool.open(createNodeDurableFs(), stateDir);
      const jobId = await spool.enqueue({ kind: 'upload', file });
      let stderr = '';
      const boot = () => {
        const child = spawn(process.execPath, [agentBundle, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
        child.stderr?.on('data', (d) => (stderr += String(d)));
        return { child, exit: new Promise((done) => child.once('exit', done)) };
      };
      // Once the survivor has taken a third of the file too, the daemon dies: its restart must still
      // know that the lost node held the first third.
      let daemon = boot();
      let killed = false;
      pb.onPublish(() => {
        if (!killed && pb.counters.segmentBytes >= SIZE / 3) {
          killed = true;
          daemon.child.kill('SIGKILL');
        }
      });
      try {
        await daemon.exit;
        expect(killed).toBe(true);
        daemon = boot();
        const end = Date.now() + 180_000;
        while ((await spool.get(jobId))?.state !== 'done') {
          if (Date.now() > end) throw new Error(`the job did not finish: ${JSON.stringify(await spool.get(jobId))}\n${stderr}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      } finally {
        daemon.child.kill('SIGTERM');
        await daemon.exit;
      }
      expect(lost()).toBeDefined();
      await expectExported(clientId, jobId, sha);
      report('daemon, node killed, daemon restarted', pa, pb, WINDOW * CHUNK + EVERY_BYTES);
    },
    emqxStartTimeoutMs + 120_000,
  );
});
