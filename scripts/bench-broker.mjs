// @ts-check
// The development broker for the benchmarks: started on a port chosen here and awaited by
// connecting to it, so nothing depends on its "listening" log line (absent with --log-level warn),
// and a broker that never comes up fails after a timeout instead of hanging the benchmark.
// Also: where to put scratch data (tmpfs when it has room, so the broker's per-segment file writes
// measure the broker and not the disk).
import { spawn } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
export const brokerBundle = join(root, 'dist', 'ftbroker.js');

/** /dev/shm when it exists and has `needBytes` free, else the system temporary directory. */
export function scratchDir(needBytes = 0) {
  const shm = '/dev/shm';
  try {
    if (existsSync(shm)) {
      const s = statfsSync(shm);
      if (s.bavail * s.bsize >= needBytes) return { dir: shm, tmpfs: true };
    }
  } catch {
    // statfs unavailable: fall through
  }
  return { dir: tmpdir(), tmpfs: false };
}

export async function freePort() {
  const s = createServer();
  await new Promise((ok, fail) => s.once('error', fail).listen(0, '127.0.0.1', () => ok(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
  await new Promise((ok) => s.close(() => ok(undefined)));
  return port;
}

function canConnect(port) {
  return new Promise((ok) => {
    const c = connect({ port, host: '127.0.0.1' });
    c.once('connect', () => {
      c.destroy();
      ok(true);
    });
    c.once('error', () => ok(false));
  });
}

/**
 * Starts `dist/ftbroker.js --port P --data DIR [extra]` and resolves `{ child, port, stop }` once
 * P accepts connections. Rejects if the broker exits first or is not up within `timeoutMs`.
 */
export async function startBenchBroker(dataDir, extra = [], { timeoutMs = 30_000 } = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, [brokerBundle, '--port', String(port), '--data', dataDir, ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  /** @type {string | number | null} */
  let exited = null;
  child.once('exit', (code, signal) => (exited = signal ?? code));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== null) throw new Error(`ftbroker exited (${String(exited)}) before accepting connections: ${stderr.trim()}`);
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ftbroker did not accept connections on port ${port} within ${timeoutMs / 1000} s: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = () =>
    new Promise((ok) => {
      if (child.exitCode !== null || child.signalCode !== null) return ok(undefined);
      child.once('exit', () => ok(undefined));
      child.kill('SIGTERM');
    });
  return { child, port, stop };
}
