import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import mqtt, { type MqttClient, type Packet } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/devbroker';
import { silentLogger } from '../../src/log';
import { type FtResponse } from './ft-harness';
import { type Mode, type Protocol, PROFILES, type Profile, OK, type Command, type Order, cmd, ROWS } from './ft-reason-rows';

/**
 * docs/emqx-ft.md §3, the reason-code table, row by row: a real broker from `startBroker` on loopback, real
 * MQTT.js clients, every row run in sync (`$file/…`) and async (`$file-async/…`) mode over MQTT 5
 * and MQTT 3.1.1.
 *
 * - MQTT 5: the raw PUBACK/PUBREC reason code is read from `packetreceive` (MQTT.js reports 0x10
 *   as success, so its publish callback says nothing useful).
 * - MQTT 3.1.1: acknowledgements carry no code; only that one arrived (or, for QoS 0, none is
 *   expected) and the `$file-response` are checked.
 * - "No response" is proved without sleeping: a probe whose answer is awaited is sent after the
 *   command's acknowledgement arrived. Responses to one client are published in command order, and
 *   a response to an immediately handled command is published before its acknowledgement, so a
 *   response to the command would have reached the client before the probe's.
 *
 * Rows of table (c) that are not here:
 * - fin with different filemetas on different cluster nodes (`inconsistent`): needs a cluster; one
 *   broker holds exactly one filemeta per transfer.
 * - fin with an exception while starting assembly, ACL deny (0x87), and packets over
 *   `max_packet_size`: the development broker has no way to provoke the first over MQTT, no ACL,
 *   and the last closes the connection (core framing behaviour, not a file-transfer reason code).
 * - duplicate fin (DUP, same packet id) while the first is in progress: MQTT.js only retransmits
 *   an unacknowledged packet id after a reconnect, and on a new connection it is a new fin with its
 *   own response (docs/emqx-ft.md §4); the same-connection case is covered against the emulation directly in
 *   ft-fin.test.ts.
 */

// ---- an MQTT.js client that records acknowledgements and responses in arrival order ----

interface Sent {
  topic: string;
  qos: 0 | 1 | 2;
  /** Undefined for QoS 0. */
  messageId?: number;
}

interface AckSeen {
  cmd: 'puback' | 'pubrec';
  messageId: number;
  reasonCode: number | undefined;
}

const MARKER = 'probe: nothing before me is still on its way';
const WAIT_MS = 3000;

class RowClient {
  readonly acks: AckSeen[] = [];
  readonly responses: FtResponse[] = [];
  private markers = 0;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly client: MqttClient,
    readonly clientId: string,
    private readonly prefix: string,
  ) {
    client.on('packetreceive', (p: Packet) => {
      if ((p.cmd === 'puback' || p.cmd === 'pubrec') && p.messageId !== undefined) {
        this.acks.push({ cmd: p.cmd, messageId: p.messageId, reasonCode: p.reasonCode });
        this.notify();
      }
    });
    client.on('message', (_topic, payload) => {
      const text = payload.toString();
      if (text === MARKER) this.markers++;
      else this.responses.push(JSON.parse(text) as FtResponse);
      this.notify();
    });
  }

  static async connect(port: number, clientId: string, protocolVersion: Protocol, prefix: string): Promise<RowClient> {
    const client = mqtt.connect({ host: '127.0.0.1', port, clientId, protocolVersion, reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    // Without this, a PUBACK for a response followed by the next PUBLISH waits out a delayed TCP ACK.
    if (client.stream instanceof Socket) client.stream.setNoDelay(true);
    const c = new RowClient(client, clientId, prefix);
    // Responses only reach subscribers: subscribe before the first command (docs/emqx-ft.md §4).
    await client.subscribeAsync(c.responseTopic, { qos: 1 });
    return c;
  }

  get responseTopic(): string {
    return `$file-response/${this.clientId}`;
  }

  topic(command: Command): string {
    return command.topic.replace('{p}', this.prefix);
  }

  /** Publish; resolves once the PUBLISH is on the wire, with its packet id. */
  send(command: Command): Promise<Sent> {
    const topic = this.topic(command);
    const qos = command.qos ?? 1;
    const payload = command.payload ?? '';
    return new Promise((resolve, reject) => {
      if (qos === 0) {
        this.client.publish(topic, payload, { qos }, (err) => (err ? reject(err) : resolve({ topic, qos })));
        return;
      }
      const onSend = (p: Packet): void => {
        if (p.cmd === 'publish' && p.topic === topic && p.messageId !== undefined) {
          this.client.off('packetsend', onSend);
          resolve({ topic, qos, messageId: p.messageId });
        }
      };
      this.client.on('packetsend', onSend);
      // MQTT.js reports error codes through this callback; the raw acknowledgement is what counts.
      this.client.publish(topic, payload, { qos }, () => undefined);
    });
  }

  ack(sent: Sent): Promise<AckSeen> {
    const cmd = sent.qos === 2 ? 'pubrec' : 'puback';
    return this.until(`${cmd} for ${sent.topic}`, () => this.acks.find((a) => a.cmd === cmd && a.messageId === sent.messageId));
  }

  ackIndex(sent: Sent): number {
    return this.acks.findIndex((a) => a.messageId === sent.messageId);
  }

  responsesTo(sent: Sent): FtResponse[] {
    return this.responses.filter((r) => r.topic === sent.topic && (sent.messageId === undefined || r.packet_id === sent.messageId));
  }

  response(sent: Sent): Promise<FtResponse> {
    return this.until(`$file-response to ${sent.topic}`, () => this.responsesTo(sent)[0]);
  }

  responseIndex(sent: Sent): number {
    const found = this.responsesTo(sent)[0];
    return found === undefined ? -1 : this.responses.indexOf(found);
  }

  /** Publish a marker to our own response topic and wait for it to come back. */
  async marker(): Promise<void> {
    const before = this.markers;
    this.client.publish(this.responseTopic, MARKER, { qos: 1 });
    await this.until('the probe marker', () => (this.markers > before ? true : undefined));
  }

  async end(): Promise<void> {
    await this.client.endAsync(true).catch(() => undefined);
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Waits for `find` to return something; the time limit only turns a hang into a readable failure. */
  private until<T>(what: string, find: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const stop = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const check = (): void => {
        const found = find();
        if (found === undefined) return;
        stop();
        resolve(found);
      };
      const timer = setTimeout(() => {
        stop();
        reject(new Error(`timed out waiting for ${what}`));
      }, WAIT_MS);
      this.waiters.add(check);
      check();
    });
  }
}

// ---- the table, run for every mode × protocol ----

const COMBINATIONS: { mode: Mode; protocol: Protocol }[] = [
  { mode: 'sync', protocol: 5 },
  { mode: 'async', protocol: 5 },
  { mode: 'sync', protocol: 4 },
  { mode: 'async', protocol: 4 },
];

for (const { mode, protocol } of COMBINATIONS) {
  const prefix = mode === 'sync' ? '$file' : '$file-async';
  const v5 = protocol === 5;

  describe(`the reason-code table in ${mode} mode (${prefix}/…) over MQTT ${v5 ? '5' : '3.1.1'}`, () => {
    let root: string;
    const brokers = new Map<Profile, Promise<RunningBroker>>();
    const clients: RowClient[] = [];

    const broker = (profile: Profile): Promise<RunningBroker> => {
      let running = brokers.get(profile);
      if (running === undefined) {
        running = startBroker({ port: 0, dataDir: path.join(root, profile), logger: silentLogger, faults: PROFILES[profile] });
        brokers.set(profile, running);
      }
      return running;
    };

    beforeAll(async () => {
      root = await mkdtemp(path.join(tmpdir(), 'ft-table-'));
    });

    afterEach(async () => {
      for (const c of clients.splice(0)) await c.end();
    });

    afterAll(async () => {
      for (const running of brokers.values()) await (await running).stop();
      brokers.clear();
      await rm(root, { recursive: true, force: true });
    });

    /** MQTT 5: the raw code. MQTT 3.1.1: an acknowledgement without a code. */
    const expectAck = (seen: AckSeen, code: number): void => {
      expect(seen.reasonCode).toBe(v5 ? code : undefined);
    };

    ROWS.forEach((row, index) => {
      it(row.situation, async () => {
        const profile = row.broker ?? 'plain';
        const { port } = await broker(profile);
        const clientId = `rt-${mode}-v${protocol}-${index}`;
        const c = await RowClient.connect(port, clientId, protocol, prefix);
        clients.push(c);

        for (const step of row.setup ?? []) {
          const sent = await c.send(step);
          expectAck(await c.ack(sent), OK);
          expect(await c.response(sent), `setup ${sent.topic}`).toMatchObject({ reason_code: 0, reason_description: 'success' });
        }

        const sent = await c.send(row.command);
        const other = row.meanwhile ? await c.send(row.meanwhile.command) : undefined;

        const expectedAck = row[mode];
        if (expectedAck !== 'no ack') expectAck(await c.ack(sent), expectedAck);

        if (row.response !== 'no response') {
          expect(await c.response(sent)).toEqual({
            vsn: '0.1',
            topic: sent.topic,
            packet_id: sent.messageId,
            reason_code: row.response.code,
            reason_description: row.response.description,
          });
        }

        if (row.meanwhile && other) {
          // Both acknowledgements and responses are in; compare where they arrived.
          expectAck(await c.ack(other), OK);
          await c.response(other);
          const ackOrder: Order = c.ackIndex(sent) < c.ackIndex(other) ? 'before' : 'after';
          const responseOrder: Order = c.responseIndex(sent) < c.responseIndex(other) ? 'before' : 'after';
          expect({ ack: ackOrder, response: responseOrder }).toEqual({ ack: row.meanwhile.ack[mode], response: row.meanwhile.response });
        }

        // The probe: once its answer is here, any response to the command would be here too.
        if (profile === 'disabled') await c.marker();
        else await c.response(await c.send(cmd('{p}/probe/abort')));
        expect(c.responsesTo(sent)).toHaveLength(row.response === 'no response' ? 0 : 1);

        for (const step of row.then ?? []) {
          const next = await c.send(step.command);
          expect((await c.response(next)).reason_description, `then ${next.topic}`).toBe(step.description);
        }

        if (row.exported) {
          const file = path.join(root, profile, 'exports', clientId, row.exported.fileId, row.exported.name);
          expect(await readFile(file, 'utf8')).toBe(row.exported.content);
        }
      });
    });
  });
}
