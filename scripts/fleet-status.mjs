#!/usr/bin/env node
// An example fleet consumer: connects to the broker, reads every gateway's retained status document
// (ftagent/+/status by default), prints one table row per gateway and exits. See the README's
// "Fleet plane" section for the document. Usage:
//
//   node scripts/fleet-status.mjs --broker mqtt://broker:1883 [--username U] [--filter 'ftagent/+/status']
//                                 [--wait-ms 2000] [--json]
//
// Retained messages arrive right after the subscription is granted; the script waits --wait-ms
// after the last one (never longer than 10 x --wait-ms in all) and exits 0, or 1 if it cannot connect.
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';

const { values } = parseArgs({
  options: {
    broker: { type: 'string', default: 'mqtt://localhost:1883' },
    username: { type: 'string' },
    filter: { type: 'string', default: 'ftagent/+/status' },
    'wait-ms': { type: 'string', default: '2000' },
    json: { type: 'boolean', default: false },
  },
});
const waitMs = Number(values['wait-ms']);
if (!Number.isInteger(waitMs) || waitMs < 1 || waitMs > 600_000) {
  process.stderr.write('fleet-status: --wait-ms must be a whole number of milliseconds from 1 to 600000\n');
  process.exit(2);
}

const gateways = new Map();
const client = mqtt.connect(values.broker, {
  clientId: `fleet-status-${process.pid}`,
  reconnectPeriod: 0,
  connectTimeout: 10_000,
  ...(values.username ? { username: values.username } : {}),
  ...(values.username && process.env.FTAGENT_PASSWORD !== undefined ? { password: process.env.FTAGENT_PASSWORD } : {}),
});
client.on('error', (err) => {
  process.stderr.write(`fleet-status: ${values.broker}: ${err.message}\n`);
  process.exit(1);
});
client.on('message', (topic, payload) => {
  try {
    const doc = JSON.parse(payload.toString('utf8'));
    if (doc && typeof doc === 'object') gateways.set(doc.clientId ?? topic, doc);
  } catch {
    gateways.set(topic, { clientId: topic, unreadable: true });
  }
  quiet();
});

let timer;
const deadline = setTimeout(finish, waitMs * 10);
function quiet() {
  clearTimeout(timer);
  timer = setTimeout(finish, waitMs);
}
client.on('connect', () => {
  client.subscribeAsync(values.filter, { qos: 1 }).then(quiet, (/** @type {Error} */ err) => {
    process.stderr.write(`fleet-status: cannot subscribe to ${values.filter}: ${err.message}\n`);
    process.exit(1);
  });
});

function finish() {
  clearTimeout(timer);
  clearTimeout(deadline);
  const docs = [...gateways.values()].sort((a, b) => String(a.clientId).localeCompare(String(b.clientId)));
  if (values.json) process.stdout.write(`${JSON.stringify(docs)}\n`);
  else process.stdout.write(table(docs));
  client.end(true, () => process.exit(0));
}

function table(docs) {
  const header = ['GATEWAY', 'STATE', 'VERSION', 'UPTIME', 'QUEUED', 'BYTES', 'ACTIVE', 'LAST ERROR', 'LAST SUCCESS', 'FREE'];
  const rows = docs.map((d) => [
    String(d.clientId),
    d.unreadable ? 'unreadable' : d.online ? 'online' : `offline (${d.reason ?? '?'})`,
    d.version ?? '',
    d.online ? duration(d.uptimeSeconds) : '',
    d.online ? String(d.queue?.jobs ?? '') : '',
    d.online ? bytes(d.queue?.bytes) : '',
    d.online ? (d.active ?? []).map((a) => `${a.job} ${a.percent}%`).join(', ') || '-' : '',
    d.lastError ? `${d.lastError.code} at ${d.lastError.at}` : '-',
    d.lastSuccessAt ?? '-',
    d.online ? bytes(d.stateDir?.freeBytes) : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    `${cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd()}\n`;
  return [header, ...rows].map(line).join('') + `${docs.length} gateway(s), ${docs.filter((d) => d.online).length} online\n`;
}

function duration(s) {
  if (typeof s !== 'number') return '';
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d${h}h` : h > 0 ? `${h}h${m}m` : `${m}m${s % 60}s`;
}

function bytes(n) {
  if (typeof n !== 'number') return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
