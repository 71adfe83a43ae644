// The floor the benchmarks measure ftagent against: the least an EMQX file-transfer upload can do.
// No MQTT library: hand-built MQTT 5 CONNECT / PUBLISH (QoS 1) frames written to a TCP socket, the
// file streamed once in fixed chunks with SHA-256 in the same pass, at most WINDOW segments waiting
// for their PUBACK (a chunk buffer is reused only after its PUBACK), and the file-transfer commands
// init, segments, fin (sync mode: each result is the PUBACK's reason code).
//
//   node scripts/floor-client.mjs --port P [--host H] --file F [--chunk BYTES] [--window N]
//        [--file-id ID] [--client-id ID]
//
// Prints one JSON line {ok, seconds, size, sha256, segments} and exits 0, or {ok:false, error} and 1.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { connect } from 'node:net';
import { basename } from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const host = option('--host', '127.0.0.1');
const port = Number(option('--port', '1883'));
const file = option('--file', '');
const chunk = Number(option('--chunk', '65536'));
const window = Number(option('--window', '16'));
const fileId = option('--file-id', `floor-${process.pid}`);
const clientId = option('--client-id', `floor-${process.pid}`);

/** MQTT's variable byte integer. */
function varint(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function str(s) {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function connectFrame() {
  // Protocol name, level 5, clean start, keepalive 60, no properties; payload: the client id.
  const body = Buffer.concat([str('MQTT'), Buffer.from([5, 0x02, 0, 60, 0]), str(clientId)]);
  return Buffer.concat([Buffer.from([0x10, ...varint(body.length)]), body]);
}

/** The PUBLISH header up to the payload: QoS 1, the packet id, no properties. */
function publishHeader(topic, packetId, payloadLength) {
  const t = str(topic);
  const remaining = t.length + 2 + 1 + payloadLength;
  const head = Buffer.concat([Buffer.from([0x32, ...varint(remaining)]), t, Buffer.from([packetId >> 8, packetId & 0xff, 0])]);
  return head;
}

function fail(message) {
  process.stdout.write(`${JSON.stringify({ ok: false, error: message })}\n`);
  process.exit(1);
}

async function main() {
  if (!file || !Number.isInteger(port) || chunk < 1 || window < 1) fail('usage: --port P --file F [--chunk BYTES] [--window N]');
  const fd = openSync(file, 'r');
  const size = fstatSync(fd).size;
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  await new Promise((ok, ko) => socket.once('connect', ok).once('error', ko));
  socket.on('error', (err) => fail(`socket: ${err.message}`));
  socket.on('close', () => fail('the broker closed the connection'));

  // Incoming frames: CONNACK, then PUBACKs (packet id → its waiter).
  /** @type {Buffer} */
  let pending = Buffer.alloc(0);
  /** @type {((rc: number) => void) | null} */
  let onConnack = null;
  const waiting = new Map();
  socket.on('data', (data) => {
    pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
    for (;;) {
      if (pending.length < 2) return;
      let length = 0;
      let mult = 1;
      let i = 1;
      for (; i < 5; i++) {
        if (i >= pending.length) return;
        const byte = /** @type {number} */ (pending[i]);
        length += (byte & 0x7f) * mult;
        mult *= 128;
        if ((byte & 0x80) === 0) break;
      }
      const start = i + 1;
      if (pending.length < start + length) return;
      const type = /** @type {number} */ (pending[0]) >> 4;
      const body = pending.subarray(start, start + length);
      pending = pending.subarray(start + length);
      if (type === 2) onConnack?.(body[1] ?? 0x80);
      else if (type === 4) {
        const id = body.readUInt16BE(0);
        const rc = length > 2 ? (body[2] ?? 0) : 0;
        const w = waiting.get(id);
        waiting.delete(id);
        w?.(rc);
      }
    }
  });

  socket.write(connectFrame());
  const connackRc = await /** @type {Promise<number>} */ (new Promise((ok) => (onConnack = ok)));
  if (connackRc !== 0) fail(`CONNACK reason code 0x${connackRc.toString(16)}`);

  let nextId = 1;
  const publish = (topic, payload) =>
    new Promise((ok, ko) => {
      const id = nextId;
      nextId = nextId === 0xffff ? 1 : nextId + 1;
      waiting.set(id, (rc) => (rc < 0x80 ? ok(undefined) : ko(new Error(`${topic}: reason code 0x${rc.toString(16)}`))));
      socket.cork();
      socket.write(publishHeader(topic, id, payload.length));
      if (payload.length > 0) socket.write(payload);
      socket.uncork();
    });

  const t0 = performance.now();
  await publish(`$file/${fileId}/init`, Buffer.from(JSON.stringify({ name: basename(file), size })));
  const hash = createHash('sha256');
  const free = Array.from({ length: window + 1 }, () => Buffer.allocUnsafe(chunk));
  const inFlight = new Set();
  let segments = 0;
  for (let offset = 0; offset < size; offset += chunk) {
    while (inFlight.size >= window) await Promise.race(inFlight);
    const buffer = free.pop();
    if (!buffer) throw new Error('no free buffer although fewer than window publishes are in flight');
    const n = readSync(fd, buffer, 0, Math.min(chunk, size - offset), offset);
    const bytes = buffer.subarray(0, n);
    hash.update(bytes);
    segments += 1;
    const p = publish(`$file/${fileId}/${offset}`, bytes).then(() => {
      inFlight.delete(p);
      free.push(buffer);
    });
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  const sha256 = hash.digest('hex');
  await publish(`$file/${fileId}/fin/${size}/${sha256}`, Buffer.alloc(0));
  const seconds = (performance.now() - t0) / 1000;
  closeSync(fd);
  socket.removeAllListeners('close');
  socket.end(Buffer.from([0xe0, 0]));
  process.stdout.write(`${JSON.stringify({ ok: true, seconds, size, sha256, segments })}\n`);
}

main().catch((err) => fail(err instanceof Error ? err.message : String(err)));
