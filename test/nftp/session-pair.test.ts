import { describe, expect, it } from 'vitest';
import { decode } from '../../src/protocol/nftp-codec';
import type { NftpWidth } from '../../src/protocol/nftp-packets';
import { prng, randomBytes } from './prng';
import { sessionPair } from './session-pair';

function kindOf(bytes: Uint8Array, width: NftpWidth): string {
  return decode(bytes, { width }).kind;
}

describe('nftp sender and receiver over one topic', () => {
  for (const width of ['u16', 'u32'] as const) {
    it(`moves a file byte-exact on a clean link (${width})`, async () => {
      const content = randomBytes(prng(1), 100_000);
      const pair = sessionPair(content, { blockSize: 1024, width });
      const { sent, received } = await pair.run();
      expect(pair.sink.target).toEqual(content);
      expect(sent).toMatchObject({ blocks: 98, blocksSent: 98, blocksResent: 0 });
      expect(received).toMatchObject({ blocks: 98, size: 100_000, givemesSent: 0 });
    });
  }

  it('repairs every 10th block skipped, as nanomq_cli does on purpose', async () => {
    const content = randomBytes(prng(2), 50_000);
    let fileCount = 0;
    const pair = sessionPair(content, {
      blockSize: 1000,
      // Drop the first transmission of every 10th FILE; re-sends (after END) go through.
      fault: (d) => {
        const kind = kindOf(d.bytes, 'u16');
        if (d.from !== 'sender' || kind !== 'file') return {};
        fileCount++;
        return { drop: fileCount <= 50 && fileCount % 10 === 0 };
      },
    });
    const { sent, received } = await pair.run();
    expect(pair.sink.target).toEqual(content);
    expect(sent.blocksResent).toBe(5);
    expect(received.givemesSent).toBe(5);
  });

  for (const seed of [11, 12, 13, 14, 15]) {
    it(`completes byte-exact with lost, duplicated and reordered packets in both directions (seed ${seed})`, async () => {
      const rand = prng(seed);
      const content = randomBytes(rand, 30_000 + Math.floor(rand() * 5000));
      const pair = sessionPair(content, {
        blockSize: 512,
        fault: () => {
          const r = rand();
          if (r < 0.1) return { drop: true };
          if (r < 0.2) return { copies: 2, delayMs: Math.floor(rand() * 30) };
          return { delayMs: Math.floor(rand() * 30) }; // different delays reorder packets
        },
      });
      const { received } = await pair.run();
      expect(pair.sink.target).toEqual(content);
      expect(received.size).toBe(content.length);
      // The faults must have bitten for this test to mean anything.
      expect(received.givemesSent).toBeGreaterThan(0);
      expect(received.duplicates).toBeGreaterThan(0);
    });
  }

  it('ends an exact-multiple file with an empty END and completes', async () => {
    const content = randomBytes(prng(3), 4096);
    const pair = sessionPair(content, { blockSize: 1024 });
    const { received } = await pair.run();
    expect(received.blocks).toBe(5);
    expect(pair.sink.target).toEqual(content);
    const last = pair.topic.published.map((d) => decode(d.bytes)).filter((p) => p.kind === 'end');
    expect(last).toEqual([{ kind: 'end', fileid: received.fileid, seq: 4, content: new Uint8Array(0) }]);
  });

  it('moves a 0-byte file', async () => {
    const pair = sessionPair(new Uint8Array(0), { blockSize: 1024 });
    const { received } = await pair.run();
    expect(received).toMatchObject({ blocks: 1, size: 0 });
    expect(pair.sink.target).toEqual(new Uint8Array(0));
  });

  it('survives a lost ACK: our receiver answers the repeated HELLO', async () => {
    const content = randomBytes(prng(4), 3000);
    let acks = 0;
    const pair = sessionPair(content, {
      blockSize: 1024,
      fault: (d) => ({ drop: d.from === 'receiver' && kindOf(d.bytes, 'u16') === 'ack' && ++acks === 1 }),
    });
    const { sent } = await pair.run();
    expect(sent.helloAttempts).toBe(2);
    expect(pair.sink.target).toEqual(content);
  });
});
