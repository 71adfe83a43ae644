import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ensureFreshBundles } from '../helpers/fresh-bundles';
import { expectWillAfterKill } from './will';
import { findEmqxExport, startEmqx, type Emqx } from '../helpers/emqx';
import { fleetSuite } from './fleet-suite';

let emqx: Emqx | undefined;
beforeAll(async () => {
  emqx = await startEmqx();
}, 180_000);
afterAll(async () => {
  await emqx?.stop();
}, 60_000);

const target = () => ({
  port: emqx!.port,
  exported: async (clientId: string, fileId: string) => {
    const found = await findEmqxExport(emqx!, clientId, fileId);
    return found ? readFile(found.path) : undefined;
  },
});
fleetSuite('EMQX 5.3.2', target, { mqtt: '5' });
fleetSuite('EMQX 5.3.2', target, { mqtt: '3.1.1' });

describe('the will on EMQX 5.3.2', () => {
  const children: ChildProcess[] = [];
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'ftagent-will-emqx-'));
    await ensureFreshBundles();
  }, 120_000);
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });
  it('marks a SIGKILLed daemon offline', () => expectWillAfterKill(emqx!.port, `gw-will-emqx-${process.pid}`, '5', root, children), 60_000);
});
