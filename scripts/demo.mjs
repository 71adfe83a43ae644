// @ts-check
// `npm run demo`: start the development broker on a free loopback port, upload a generated sample
// file with `ftagent send`, and show where it landed on the broker and that its SHA-256 matches.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const dist = resolve(new URL('..', import.meta.url).pathname, 'dist');
const work = mkdtempSync(join(tmpdir(), 'ftagent-demo-'));
const dataDir = join(work, 'broker-data');

function startBroker() {
  const child = spawn(process.execPath, [join(dist, 'ftbroker.js'), '--port', '0', '--data', dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolvePort, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      try {
        const msg = JSON.parse(line);
        if (msg.msg === 'listening') resolvePort({ child, port: msg.port });
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => reject(new Error(`ftbroker exited with ${code} before listening`)));
  });
}

function run(args) {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [join(dist, 'ftagent.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => resolveRun({ code, out }));
  });
}

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

const { child: broker, port } = await startBroker();
try {
  const sample = join(work, 'store-42-cameras.tar');
  const bytes = randomBytes(3 * 1024 * 1024 + 12345);
  writeFileSync(sample, bytes);
  console.log(`development broker listening on mqtt://127.0.0.1:${port} (data in ${dataDir})`);
  console.log(`uploading ${sample} (${bytes.length} bytes) with ftagent send …`);
  const clientId = 'demo-gateway';
  const { code, out } = await run(['send', sample, '--broker', `mqtt://127.0.0.1:${port}`, '--client-id', clientId, '--json']);
  if (code !== 0) {
    console.error(`ftagent send failed with exit status ${code}`);
    process.exitCode = 1;
  } else {
    const result = JSON.parse(out.trim().split('\n').pop());
    const landed = join(dataDir, 'exports', clientId, result.fileId, result.name);
    const onBroker = readFileSync(landed);
    const match = sha256(onBroker) === sha256(bytes) && result.sha256 === sha256(bytes);
    console.log(`file id:   ${result.fileId}`);
    console.log(`landed at: ${landed}`);
    console.log(`size:      ${onBroker.length} bytes in ${result.seconds} s`);
    console.log(`sha256:    ${sha256(onBroker)} ${match ? '(matches the local file)' : '(DOES NOT MATCH)'}`);
    if (!match) process.exitCode = 1;
  }
} finally {
  broker.kill('SIGTERM');
  await new Promise((r) => broker.once('exit', r));
  if (process.exitCode) rmSync(work, { recursive: true, force: true });
  else console.log(`(the broker's data is left in ${dataDir} for you to look at)`);
}
