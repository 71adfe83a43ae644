import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import mqtt, { type MqttClient, type Packet } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/devbroker';
import type { BrokerFaults } from '../../src/devbroker/types';
import { silentLogger } from '../../src/log';
import { type FtResponse, sha256Hex } from './ft-harness';

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

type Mode = 'sync' | 'async';
type Protocol = 4 | 5;

/** Broker fault settings; a describe block starts one broker per profile its rows use. */
const PROFILES = {
  plain: {},
  /** Assembly takes a while, so a fin's result clearly comes after a later command's. */
  slow: { assemblyDelayMs: 150 },
  /** assemble_timeout shorter than the assembly. */
  timeout: { assembleTimeoutMs: 40, assemblyDelayMs: 400 },
  disabled: { fileTransferDisabled: true },
  quota: { segmentQuotaRate: 1 },
} satisfies Record<string, BrokerFaults>;
type Profile = keyof typeof PROFILES;

const OK = 0x00;
const ERR = 0x80;
const NO_MATCHING_SUBSCRIBERS = 0x10;
const QUOTA_EXCEEDED = 0x97;

/** `{p}` in a topic stands for `$file` or `$file-async`, as in the spec. */
interface Command {
  topic: string;
  payload?: string;
  qos?: 0 | 1 | 2;
}

/** The acknowledgement's reason code (PUBACK for QoS 1, PUBREC for QoS 2), or none at all (QoS 0). */
type Ack = number | 'no ack';
type Response = { code: 0 | 128; description: string } | 'no response';
type Order = 'before' | 'after';

interface Row {
  situation: string;
  broker?: Profile;
  /** Commands that must each succeed (0x00 on MQTT 5, `success` response) before the one under test. */
  setup?: Command[];
  command: Command;
  sync: Ack;
  async: Ack;
  response: Response;
  /**
   * Sent right after the command, before its acknowledgement: where the command's acknowledgement
   * (per mode) and its response arrive relative to this one's.
   */
  meanwhile?: { command: Command; ack: Record<Mode, Order>; response: Order };
  /** Follow-up commands and the reason_description each must get (shows what was or was not stored). */
  then?: { command: Command; description: string }[];
  /** The file the command exported. */
  exported?: { fileId: string; name: string; content: string };
}

const cmd = (topic: string, payload?: string, qos?: 0 | 1 | 2): Command => ({
  topic,
  ...(payload !== undefined ? { payload } : {}),
  ...(qos !== undefined ? { qos } : {}),
});
const init = (fileId: string, meta: Record<string, unknown>): Command => cmd(`{p}/${fileId}/init`, JSON.stringify(meta));
const ok: Response = { code: 0, description: 'success' };
const error = (description: string): Response => ({ code: 128, description });

const META = { name: 'a.txt', size: 3 };
const LONG_ID = 'x'.repeat(300); // longer than a directory name may be
const ABC = sha256Hex('abc');
const XYZ = sha256Hex('xyz');
const OTHER = cmd('{p}/other/abort');

const ROWS: Row[] = [
  // init stored (new, or identical re-init)
  { situation: 'A first init is stored and answered with success.', command: init('f1', META), sync: OK, async: OK, response: ok },
  {
    situation: 'An init identical to the stored one is accepted again with success.',
    setup: [init('f1', META)],
    command: init('f1', META),
    sync: OK,
    async: OK,
    response: ok,
  },
  // init: bad JSON / schema / name rules
  { situation: 'An init that is not valid JSON is refused as invalid_filemeta_json.', command: cmd('{p}/f1/init', '{"name":'), sync: ERR, async: ERR, response: error('invalid_filemeta_json') },
  { situation: 'An init that is a JSON string is refused as invalid_filemeta_json.', command: cmd('{p}/f1/init', '"a.txt"'), sync: ERR, async: ERR, response: error('invalid_filemeta_json') },
  { situation: 'An init without the required name is refused as invalid_filemeta.', command: init('f1', { size: 3 }), sync: ERR, async: ERR, response: error('invalid_filemeta') },
  { situation: 'An init with a negative size is refused as invalid_filemeta.', command: init('f1', { name: 'a.txt', size: -1 }), sync: ERR, async: ERR, response: error('invalid_filemeta') },
  { situation: 'An init whose name contains a slash is refused as invalid_filemeta.', command: init('f1', { name: 'dir/a.txt' }), sync: ERR, async: ERR, response: error('invalid_filemeta') },
  {
    situation: 'An init whose name is longer than 240 bytes is refused as invalid_filemeta.',
    command: init('f1', { name: 'n'.repeat(241) }),
    sync: ERR,
    async: ERR,
    response: error('invalid_filemeta'),
  },
  // init: different meta for the same clientId+fileId
  {
    situation: 'A re-init that differs from the stored meta only in size is refused as filemeta_conflict.',
    setup: [init('f1', META)],
    command: init('f1', { ...META, size: 4 }),
    sync: ERR,
    async: ERR,
    response: error('filemeta_conflict'),
  },
  // init/segment: disk error
  {
    situation: 'An init whose fileId is too long for a directory name fails with the POSIX error enametoolong.',
    command: init(LONG_ID, META),
    sync: ERR,
    async: ERR,
    response: error('enametoolong'),
  },
  {
    situation: 'A segment whose fileId is too long for a directory name fails with the POSIX error enametoolong.',
    command: cmd(`{p}/${LONG_ID}/0`, 'abc'),
    sync: ERR,
    async: ERR,
    response: error('enametoolong'),
  },
  // segment stored (incl. duplicate, empty, negative offset, offset beyond the size)
  { situation: 'A segment after init is stored and answered with success.', setup: [init('f1', META)], command: cmd('{p}/f1/0', 'abc'), sync: OK, async: OK, response: ok },
  { situation: 'A segment sent before any init is stored and answered with success.', command: cmd('{p}/f1/0', 'abc'), sync: OK, async: OK, response: ok },
  {
    situation: 'A duplicate segment is stored again and answered with success.',
    setup: [init('f1', META), cmd('{p}/f1/0', 'abc')],
    command: cmd('{p}/f1/0', 'abc'),
    sync: OK,
    async: OK,
    response: ok,
  },
  { situation: 'An empty segment is stored and answered with success.', setup: [init('f1', META)], command: cmd('{p}/f1/3', ''), sync: OK, async: OK, response: ok },
  { situation: 'A segment with a negative offset is accepted with success.', setup: [init('f1', META)], command: cmd('{p}/f1/-5', 'x'), sync: OK, async: OK, response: ok },
  {
    situation: 'A segment beyond the size announced in init is stored and answered with success.',
    setup: [init('f1', META)],
    command: cmd('{p}/f1/100', 'zz'),
    sync: OK,
    async: OK,
    response: ok,
  },
  {
    situation: 'A segment whose checksum level matches its payload is stored and answered with success.',
    setup: [init('f1', META)],
    command: cmd(`{p}/f1/0/${ABC}`, 'abc'),
    sync: OK,
    async: OK,
    response: ok,
  },
  // segment: checksum level present but wrong
  {
    situation: 'A segment whose checksum level does not match its payload is refused as checksum_mismatch and not stored.',
    setup: [init('f1', META)],
    command: cmd(`{p}/f1/0/${XYZ}`, 'abc'),
    sync: ERR,
    async: ERR,
    response: error('checksum_mismatch'),
    then: [{ command: cmd('{p}/f1/fin/3'), description: 'incomplete' }],
  },
  // segment: bad offset / bad checksum format
  { situation: 'A segment with a non-numeric offset is refused as invalid_offset.', command: cmd('{p}/f1/abc', 'x'), sync: ERR, async: ERR, response: error('invalid_offset') },
  { situation: 'A fin without a size is taken for a segment and refused as invalid_offset.', command: cmd('{p}/f1/fin'), sync: ERR, async: ERR, response: error('invalid_offset') },
  {
    situation: 'A segment whose checksum is shorter than 64 characters is refused as invalid_checksum.',
    command: cmd('{p}/f1/0/abc123', 'x'),
    sync: ERR,
    async: ERR,
    response: error('invalid_checksum'),
  },
  {
    situation: 'A segment whose 64-character checksum is not hex is refused as invalid_checksum.',
    command: cmd(`{p}/f1/0/${'g'.repeat(64)}`, 'x'),
    sync: ERR,
    async: ERR,
    response: error('invalid_checksum'),
  },
  // empty fileId
  { situation: 'A command with an empty fileId is refused as invalid_fileid.', command: cmd('{p}//init', JSON.stringify(META)), sync: ERR, async: ERR, response: error('invalid_fileid') },
  // unknown command / too many levels
  { situation: 'A topic with a fileId but no command is refused as invalid_file_command.', command: cmd('{p}/f1'), sync: ERR, async: ERR, response: error('invalid_file_command') },
  { situation: 'A fin with too many levels is refused as invalid_file_command.', command: cmd('{p}/f1/fin/1/x/y'), sync: ERR, async: ERR, response: error('invalid_file_command') },
  { situation: 'A segment with too many levels is refused as invalid_file_command.', command: cmd(`{p}/f1/0/${ABC}/x`, 'abc'), sync: ERR, async: ERR, response: error('invalid_file_command') },
  // fin: bad size / bad checksum format (immediate)
  { situation: 'A fin with a non-numeric size is refused at once as invalid_size.', command: cmd('{p}/f1/fin/three'), sync: ERR, async: ERR, response: error('invalid_size') },
  { situation: 'A fin whose checksum is not 64 hex characters is refused at once as invalid_checksum.', command: cmd('{p}/f1/fin/3/abc'), sync: ERR, async: ERR, response: error('invalid_checksum') },
  // fin: transfer already exported (re-fin)
  {
    situation: 'A fin for a transfer already exported succeeds again without waiting for an assembly.',
    broker: 'slow',
    setup: [init('f1', META), cmd('{p}/f1/0', 'abc'), cmd('{p}/f1/fin/3')],
    command: cmd('{p}/f1/fin/3'),
    sync: OK,
    async: OK,
    response: ok,
    meanwhile: { command: OTHER, ack: { sync: 'before', async: 'before' }, response: 'before' },
  },
  // fin: assembly started, then succeeds
  {
    situation: 'A fin that assembles the file succeeds, acknowledged in sync mode only once the file is exported.',
    broker: 'slow',
    setup: [init('f1', { ...META, checksum: ABC }), cmd('{p}/f1/0', 'ab'), cmd('{p}/f1/2', 'c')],
    command: cmd('{p}/f1/fin/3'),
    sync: OK,
    async: OK,
    response: ok,
    meanwhile: { command: OTHER, ack: { sync: 'after', async: 'before' }, response: 'after' },
    exported: { fileId: 'f1', name: 'a.txt', content: 'abc' },
  },
  // fin: missing segments or missing init
  {
    situation: 'A fin with a segment missing reports incomplete once the assembly gave up.',
    broker: 'slow',
    setup: [init('f1', { name: 'a.txt', size: 4 }), cmd('{p}/f1/0', 'ab')],
    command: cmd('{p}/f1/fin/4'),
    sync: ERR,
    async: OK,
    response: error('incomplete'),
    meanwhile: { command: OTHER, ack: { sync: 'after', async: 'before' }, response: 'after' },
    then: [
      { command: cmd('{p}/f1/2', 'cd'), description: 'success' },
      { command: cmd('{p}/f1/fin/4'), description: 'success' },
    ],
  },
  {
    situation: 'A fin without any init reports incomplete once the assembly gave up.',
    broker: 'slow',
    setup: [cmd('{p}/f1/0', 'ab')],
    command: cmd('{p}/f1/fin/2'),
    sync: ERR,
    async: OK,
    response: error('incomplete'),
    meanwhile: { command: OTHER, ack: { sync: 'after', async: 'before' }, response: 'after' },
  },
  // fin: whole-file checksum mismatch
  {
    situation: 'A fin whose checksum level does not match the assembled file reports internal_error, and a fin with the right one then succeeds.',
    broker: 'slow',
    setup: [init('f1', META), cmd('{p}/f1/0', 'abc')],
    command: cmd(`{p}/f1/fin/3/${XYZ}`),
    sync: ERR,
    async: OK,
    response: error('internal_error'),
    meanwhile: { command: OTHER, ack: { sync: 'after', async: 'before' }, response: 'after' },
    then: [{ command: cmd(`{p}/f1/fin/3/${ABC}`), description: 'success' }],
  },
  {
    situation: 'A fin for a file that does not match the checksum given in init reports internal_error.',
    broker: 'slow',
    setup: [init('f1', { ...META, checksum: XYZ }), cmd('{p}/f1/0', 'abc')],
    command: cmd('{p}/f1/fin/3'),
    sync: ERR,
    async: OK,
    response: error('internal_error'),
    meanwhile: { command: OTHER, ack: { sync: 'after', async: 'before' }, response: 'after' },
  },
  // fin: not done within assemble_timeout
  {
    situation: 'A fin whose assembly outlasts the assemble timeout reports timeout, acknowledged in sync mode only after the timeout.',
    broker: 'timeout',
    setup: [init('f1', META), cmd('{p}/f1/0', 'abc')],
    command: cmd('{p}/f1/fin/3'),
    sync: ERR,
    async: OK,
    response: error('timeout'),
    meanwhile: { command: OTHER, ack: { sync: 'after', async: 'before' }, response: 'after' },
  },
  // abort
  {
    situation: 'An abort is answered with success and deletes nothing.',
    setup: [init('f1', META), cmd('{p}/f1/0', 'abc')],
    command: cmd('{p}/f1/abort'),
    sync: OK,
    async: OK,
    response: ok,
    then: [{ command: cmd('{p}/f1/fin/3'), description: 'success' }],
  },
  // FT disabled
  {
    situation: 'With file transfer disabled an init is an ordinary publish nobody receives, with 0x10 and no response.',
    broker: 'disabled',
    command: init('f1', META),
    sync: NO_MATCHING_SUBSCRIBERS,
    async: NO_MATCHING_SUBSCRIBERS,
    response: 'no response',
  },
  {
    situation: 'With file transfer disabled a fin is an ordinary publish nobody receives, with 0x10 and no response.',
    broker: 'disabled',
    command: cmd('{p}/f1/fin/3'),
    sync: NO_MATCHING_SUBSCRIBERS,
    async: NO_MATCHING_SUBSCRIBERS,
    response: 'no response',
  },
  // handler crash (non-object JSON init)
  {
    situation: 'An init whose JSON is an array crashes the handler, giving 0x10 and no response.',
    command: cmd('{p}/f1/init', '[]'),
    sync: NO_MATCHING_SUBSCRIBERS,
    async: NO_MATCHING_SUBSCRIBERS,
    response: 'no response',
  },
  {
    situation: 'An init whose JSON is a number crashes the handler, giving 0x10 and no response.',
    command: cmd('{p}/f1/init', '42'),
    sync: NO_MATCHING_SUBSCRIBERS,
    async: NO_MATCHING_SUBSCRIBERS,
    response: 'no response',
  },
  // QoS 2 / QoS 0 commands
  {
    situation: 'An init sent at QoS 2 gets PUBREC 0x10, no response, and is not stored.',
    command: cmd('{p}/f1/init', JSON.stringify(META), 2),
    sync: NO_MATCHING_SUBSCRIBERS,
    async: NO_MATCHING_SUBSCRIBERS,
    response: 'no response',
    then: [{ command: cmd('{p}/f1/fin/0'), description: 'incomplete' }],
  },
  {
    situation: 'An init sent at QoS 0 is dropped: nothing is stored and nothing answers.',
    command: cmd('{p}/f1/init', JSON.stringify(META), 0),
    sync: 'no ack',
    async: 'no ack',
    response: 'no response',
    then: [{ command: cmd('{p}/f1/fin/0'), description: 'incomplete' }],
  },
  // publish quota exceeded
  {
    situation: 'A segment over the publish quota gets 0x97, no response, and is not stored.',
    broker: 'quota',
    setup: [init('f1', { name: 'a.txt', size: 1 })],
    command: cmd('{p}/f1/0', 'a'),
    sync: QUOTA_EXCEEDED,
    async: QUOTA_EXCEEDED,
    response: 'no response',
    then: [{ command: cmd('{p}/f1/fin/1'), description: 'incomplete' }],
  },
];

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
