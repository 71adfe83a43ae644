/**
 * The agent announces a Maximum Packet Size in its MQTT 5 CONNECT and closes the connection as soon
 * as a broker announces a larger packet, without buffering its body: a hostile broker on a raw
 * socket starts a 100 MB PUBLISH and the agent hangs up after its first bytes.
 */
import { createServer, type Server, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log';
import { systemClock } from '../../src/time/clock';
import { Connection } from '../../src/mqtt/connection';
import { InboundPacketCap } from '../../src/mqtt/inbound-packet-cap';
import { defaultMaxPacketSize } from '../../src/protocol/packet-limits';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

/** A broker that answers CONNECT with CONNACK and then runs `after` on the socket. */
async function rawBroker(after: (socket: Socket, connect: mqttPacket.IConnectPacket) => void): Promise<number> {
  server = createServer((socket) => {
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on('packet', (p) => {
      if (p.cmd !== 'connect') return;
      socket.write(mqttPacket.generate({ cmd: 'connack', sessionPresent: false, reasonCode: 0, properties: {} }, { protocolVersion: 5 }));
      after(socket, p);
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return (server?.address() as { port: number }).port;
}

describe('Maximum Packet Size', () => {
  it('is sent in CONNECT: the default 1 MiB, or the configured value', async () => {
    const seen: (number | undefined)[] = [];
    const port = await rawBroker((s, c) => {
      seen.push(c.properties?.maximumPacketSize);
      s.end();
    });
    for (const maximumPacketSize of [undefined, 70_000]) {
      const conn = new Connection(
        { brokers: [`mqtt://127.0.0.1:${port}`], clientId: 'cap', protocolVersion: 5, ...(maximumPacketSize ? { maximumPacketSize } : {}) },
        { clock: systemClock, logger: silentLogger },
      );
      await conn.start();
      await conn.close();
    }
    expect(seen).toEqual([defaultMaxPacketSize, 70_000]);
  });

  it('hangs up on a broker that starts a 100 MB packet, after its first bytes', async () => {
    let sent = 0;
    let serverSawClose: (bytes: number) => void = () => undefined;
    const closed = new Promise<number>((r) => (serverSawClose = r));
    const port = await rawBroker((socket) => {
      // PUBLISH QoS 0, Remaining Length 100,000,000 (varint), then the body in 64 KiB pieces.
      const header = Buffer.from([0x30, 0x80, 0xc2, 0xd7, 0x2f]);
      socket.write(header);
      const piece = Buffer.alloc(64 * 1024, 0x41);
      const pump = (): void => {
        while (!socket.destroyed && sent < 100_000_000 && socket.write(piece)) sent += piece.length;
        if (!socket.destroyed && sent < 100_000_000) socket.once('drain', pump);
      };
      socket.on('close', () => serverSawClose(sent));
      pump();
    });
    const conn = new Connection({ brokers: [`mqtt://127.0.0.1:${port}`], clientId: 'cap', protocolVersion: 5, maxAttempts: 1 }, { clock: systemClock, logger: silentLogger });
    const down = new Promise<string>((resolve) => conn.listen((e) => e.kind === 'down' && resolve(e.reason)));
    await conn.start();
    expect(await down).toMatch(/above this client's Maximum Packet Size 1048576/);
    await conn.close();
    // Socket buffers hold a few MiB at most; the 100 MB were never sent, let alone held.
    expect(await closed).toBeLessThan(16 * 1024 * 1024);
  });
});

describe('InboundPacketCap', () => {
  const publish = (remaining: number): Buffer => {
    const len: number[] = [];
    let v = remaining;
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v > 0) b |= 0x80;
      len.push(b);
    } while (v > 0);
    return Buffer.concat([Buffer.from([0x30, ...len]), Buffer.alloc(remaining)]);
  };

  it('passes a packet of exactly the cap and stops at one byte more, also with headers split across reads', () => {
    const at = publish(1000 - 3); // 1 type byte + 2 length bytes + 997 = 1000
    const cap = new InboundPacketCap(1000);
    for (const b of at) expect(cap.push(Buffer.from([b]))).toBe(true);
    expect(cap.push(publish(0))).toBe(true);
    expect(cap.push(publish(998).subarray(0, 3))).toBe(false);
    expect(cap.exceeded).toBe(1001);
  });

  it('treats a Remaining Length of more than four bytes as garbage', () => {
    const cap = new InboundPacketCap(defaultMaxPacketSize);
    expect(cap.push(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]))).toBe(false);
  });
});
