import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { agentBundle } from '../helpers/fresh-bundles';
import { Observer } from './helpers';

/** Runs the daemon bundle as a process, waits for its online status, kills it with SIGKILL and expects the retained will. */
export async function expectWillAfterKill(port: number, clientId: string, mqtt: '5' | '3.1.1', root: string, children: ChildProcess[]): Promise<void> {
  const dir = mkdtempSync(join(root, 'gw-'));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ brokers: [`mqtt://127.0.0.1:${port}`], clientId, stateDir: join(dir, 'state'), mqtt: { version: mqtt }, log: { level: 'warn' } }));
  const observer = await Observer.open(`mqtt://127.0.0.1:${port}`, [`ftagent/${clientId}/status`]);
  try {
    const child = spawn(process.execPath, [agentBundle, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    const online = await observer.waitFor('online', (s) => s.json.online === true);
    expect(online.json.clientId).toBe(clientId);
    child.kill('SIGKILL');
    const offline = await observer.waitFor('the will', (s) => s.json.online === false);
    expect(offline.json).toMatchObject({ online: false, clientId, reason: 'connection lost' });
    // Retained: a backend that connects later still sees the gateway offline.
    const late = await Observer.open(`mqtt://127.0.0.1:${port}`, [`ftagent/${clientId}/status`]);
    const retained = await late.waitFor('the retained offline status', () => true);
    await late.close();
    expect(retained).toMatchObject({ retain: true, json: { online: false } });
  } finally {
    await observer.close();
  }
}
