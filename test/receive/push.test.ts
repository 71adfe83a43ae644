import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NftpFileSink } from '../../src/transfer/nftp/nftp-file-sink';
import type { NftpSink } from '../../src/transfer/nftp/nftp-ports';
import { blockSize, content, mapBlocks, startAgent, startHarness, type Agent, type Harness } from './harness';

let h: Harness;
let agent: Agent | undefined;
let recv: string;

beforeEach(async () => {
  h = await startHarness();
  recv = path.join(h.dir, 'agent', 'recv');
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await h.cleanup();
});

async function serverFile(name: string, bytes: Buffer): Promise<void> {
  await writeFile(path.join(h.filesDir, name), bytes);
}

describe('push to a store', () => {
  it('arrives byte-exact through lost, duplicated and reordered blocks', async () => {
    const data = content(40 * blockSize + 123);
    await serverFile('campaign.mp4', data);
    agent = await startAgent(h, { receive: [recv] });
    const push = await h.push({
      file: 'campaign.mp4',
      target: 'media/campaign.mp4',
      jobId: 'job-1',
      faults: { seed: 3, dropBlocks: [0, 7, 40], dropRate: 0.1, duplicateRate: 0.3, reorderSpan: 4 },
    });
    expect(push.response.ack).toBe('ok');
    const r = await agent.nextResult();
    expect(r.ok, r.message).toBe(true);
    expect(await readFile(path.join(recv, 'media', 'campaign.mp4'))).toEqual(data);
    // The faults really happened, and the receiver repaired the losses with GIVEME.
    expect(push.faultStats?.dropped).toBeGreaterThanOrEqual(3);
    expect(push.faultStats?.duplicated).toBeGreaterThan(0);
    expect(push.faultStats?.reordered).toBeGreaterThan(0);
    expect(r.result?.givemesSent).toBeGreaterThanOrEqual(3);
    expect(h.givemes(push.topic)).toEqual(expect.arrayContaining([0, 7, 40]));
    expect(r.result?.duplicates).toBeGreaterThan(0);
    // Nothing is left beside it.
    expect(await readdir(path.join(recv, 'media'))).toEqual(['campaign.mp4']);
  });

  it('never moves a file whose CRC-32C does not match into place', async () => {
    await serverFile('script.sh', content(10 * blockSize));
    agent = await startAgent(h, { receive: [recv] });
    const push = await h.push({ file: 'script.sh', target: 'script.sh', faults: { corruptBlock: 4 } });
    expect(push.response.ack).toBe('ok');
    const r = await agent.nextResult();
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/CRC-32C .* instead of the announced .*not moved into place/);
    expect(await readdir(recv)).toEqual([]);
  });

  it('refuses to replace an existing file unless the request says overwrite, then replaces it atomically', async () => {
    const fresh = content(5 * blockSize, 11);
    await serverFile('price.csv', fresh);
    await mkdir(recv, { recursive: true });
    await writeFile(path.join(recv, 'price.csv'), 'old prices');
    agent = await startAgent(h, { receive: [recv] });

    const refused = await h.push({ file: 'price.csv', target: 'price.csv' });
    expect(refused.response.ack).toBe('NOT_ALLOW');
    expect(String(refused.response.fields.reason)).toMatch(/already exists .* overwrite/);
    expect((await agent.nextResult()).code).toBe('NOT_ALLOWED');
    expect(await readFile(path.join(recv, 'price.csv'), 'utf8')).toBe('old prices');

    const accepted = await h.push({ file: 'price.csv', target: 'price.csv', overwrite: true });
    expect(accepted.response.ack).toBe('ok');
    expect((await agent.nextResult()).ok).toBe(true);
    expect(await readFile(path.join(recv, 'price.csv'))).toEqual(fresh);
    expect((await readdir(recv)).sort()).toEqual(['price.csv']);
  });

  it('fails clearly on a full disk and leaves no file, not even a partial one', async () => {
    await serverFile('big.bin', content(20 * blockSize));
    let writes = 0;
    // ENOSPC from the file system on the 6th block write (the real disk is never filled).
    const sinkFor = (target: string): NftpSink => {
      const real = new NftpFileSink({ target });
      return {
        open: (info) => real.open(info),
        writeBlock: async (seq, offset, bytes) => {
          if (++writes === 6) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          return real.writeBlock(seq, offset, bytes);
        },
        saveBitmap: (b) => real.saveBitmap(b),
        finish: (e) => real.finish(e),
        abort: (o) => real.abort(o),
      };
    };
    agent = await startAgent(h, { receive: [recv], sinkFor });
    expect((await h.push({ file: 'big.bin', target: 'big.bin' })).response.ack).toBe('ok');
    const r = await agent.nextResult();
    expect(r.ok).toBe(false);
    expect(r.code).toBe('DISK_FULL');
    expect(r.message).toMatch(/no space left/);
    expect(await readdir(recv)).toEqual([]);
  });

  it('resumes from the block map after a stalled transfer, asking again for nothing it already had', async () => {
    const data = content(60 * blockSize + 5, 5);
    await serverFile('menu.pdf', data);
    agent = await startAgent(h, { receive: [recv], nftp: { maxGivemes: 2, checkpointEvery: 8 } });

    const first = await h.push({ file: 'menu.pdf', target: 'menu.pdf', faults: { stallAfterBlocks: 30 } });
    expect(first.response.ack).toBe('ok');
    const failed = await agent.nextResult();
    expect(failed.code).toBe('NFTP_NO_ANSWER');
    expect((await readdir(recv)).sort()).toEqual(['menu.pdf.part', 'menu.pdf.part.map']);
    first.cancel();

    // Which 30 blocks arrived depends on the order concurrent reads completed; the map says.
    const kept = await mapBlocks(path.join(recv, 'menu.pdf.part.map'), 61);
    expect(kept).toHaveLength(30);
    // The second push loses every block the first one delivered: only a resumed receiver does without them.
    const second = await h.push({ file: 'menu.pdf', target: 'menu.pdf', faults: { dropBlocks: kept } });
    expect(second.response.ack).toBe('ok');
    const done = await agent.nextResult();
    expect(done.ok, done.message).toBe(true);
    expect(done.result?.resumedBlocks).toBe(30);
    // A stall under load may ask for the next block not sent yet, never for one it already had.
    expect(h.givemes(second.topic).filter((seq) => kept.includes(seq))).toEqual([]);
    expect(await readFile(path.join(recv, 'menu.pdf'))).toEqual(data);
    expect(await readdir(recv)).toEqual(['menu.pdf']);
  });

  it('uses the request overwrite flag over the configured default', async () => {
    await serverFile('a.txt', Buffer.from('new'));
    await mkdir(recv, { recursive: true });
    await writeFile(path.join(recv, 'a.txt'), 'old');
    agent = await startAgent(h, { receive: [recv], overwriteDefault: true });
    expect((await h.push({ file: 'a.txt', target: 'a.txt', overwrite: false })).response.ack).toBe('NOT_ALLOW');
    await agent.nextResult();
    expect((await h.push({ file: 'a.txt', target: 'a.txt' })).response.ack).toBe('ok');
    expect((await agent.nextResult()).ok).toBe(true);
    expect(await readFile(path.join(recv, 'a.txt'), 'utf8')).toBe('new');
  });
});
