/**
 * A local attacker races symlinks (and a renamed directory) into the receive root at every step of a
 * push: between the "ok" answer and HELLO, before the .part is opened, before each block-map save,
 * before the final rename and before the cleanup after a bad file (and a hard link to an outside file
 * planted under the .part name). Whatever happens, nothing outside
 * the root is created, changed or removed, and a push that could not write where it was asked to
 * fails instead of reporting success.
 */
import { link, lstat, mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log';
import type { NftpSendFaults } from '../../src/devbroker/store-server/push-faults';
import { NftpFileSink, type NftpSinkStep } from '../../src/transfer/nftp/nftp-file-sink';
import type { NftpSink } from '../../src/transfer/nftp/nftp-ports';
import { blockSize, content, startAgent, startHarness, type Agent, type Harness } from './harness';

type Step = NftpSinkStep | 'hello';
type Attack = 'dir' | 'part' | 'map' | 'target' | 'hardlink';

let h: Harness;
let agent: Agent;
let recv: string;
let outside: string;
/** The race armed for the next push: at the nth time `step` comes, run `attack`. */
let armed: { step: Step; nth: number; attack: Attack; seen: number; fired: boolean } | undefined;
let current = '';

const data = content(12 * blockSize + 77, 3);

beforeAll(async () => {
  h = await startHarness();
  recv = path.join(h.dir, 'agent', 'recv');
  outside = path.join(h.dir, 'agent', 'outside');
  await mkdir(outside, { recursive: true });
  await writeFile(path.join(h.filesDir, 'payload.bin'), data);
  const sinkFor = (target: string, log: Logger, root: string): NftpSink => {
    const real = new NftpFileSink({ target, root, log, beforeStep: (step) => race(step) });
    return { ...bind(real), open: async (info) => (await race('hello'), real.open(info)) };
  };
  agent = await startAgent(h, { receive: [recv], nftp: { checkpointEvery: 3 }, sinkFor });
});
afterAll(async () => {
  await agent.stop();
  await h.cleanup();
});

function bind(s: NftpFileSink): NftpSink {
  return {
    open: (i) => s.open(i),
    writeBlock: (a, b, c) => s.writeBlock(a, b, c),
    saveBitmap: (b) => s.saveBitmap(b),
    finish: (e) => s.finish(e),
    abort: (o) => s.abort(o),
  };
}

async function race(step: Step): Promise<void> {
  if (!armed || armed.step !== step || armed.fired || ++armed.seen !== armed.nth) return;
  armed.fired = true;
  const dir = path.join(recv, current);
  const victim = path.join(outside, 'victim');
  const swap = async (name: string): Promise<void> => {
    await rm(path.join(dir, name), { force: true });
    await symlink(victim, path.join(dir, name));
  };
  if (armed.attack === 'dir') {
    await rename(dir, `${dir}.moved`);
    await symlink(outside, dir);
  } else if (armed.attack === 'hardlink') {
    // Not a symlink at all: a second name for the outside file, where .part will be opened.
    await rm(path.join(dir, 'f.bin.part'), { force: true });
    await link(victim, path.join(dir, 'f.bin.part'));
  } else if (armed.attack === 'part') await swap('f.bin.part');
  else if (armed.attack === 'map') await swap('f.bin.part.map');
  else await swap('f.bin');
}

/** Every entry outside the root with its type and content: must never change. */
async function snapshot(): Promise<string> {
  const out: string[] = [];
  for (const name of (await readdir(outside)).sort()) {
    const st = await lstat(path.join(outside, name));
    out.push(`${name} ${st.isFile() ? (await readFile(path.join(outside, name))).toString('hex') : 'not-a-file'} ${st.mtimeMs}`);
  }
  return out.join('\n');
}

const steps: { step: Step; nth: number; faults?: NftpSendFaults }[] = [
  { step: 'hello', nth: 1 },
  { step: 'open-part', nth: 1 },
  { step: 'save-map', nth: 1 },
  { step: 'save-map', nth: 3 },
  { step: 'rename', nth: 1 },
  // A corrupted block makes the whole-file CRC-32C mismatch: the partial file is then cleaned up.
  { step: 'cleanup', nth: 1, faults: { corruptBlock: 2 } },
];
const attacks: Attack[] = ['dir', 'part', 'map', 'target', 'hardlink'];

describe('symlinks raced in during a push', () => {
  let n = 0;
  for (const s of steps) {
    for (const attack of attacks) {
      it(`${attack} swapped before ${s.step}${s.nth > 1 ? ` #${s.nth}` : ''}: nothing outside changes`, async () => {
        current = `case${++n}`;
        await writeFile(path.join(outside, 'victim'), 'outside file: must stay as it is');
        await mkdir(path.join(recv, current), { recursive: true });
        const before = await snapshot();
        armed = { step: s.step, nth: s.nth, attack, seen: 0, fired: false };
        const push = await h.push({ file: 'payload.bin', target: `${current}/f.bin`, ...(s.faults ? { faults: s.faults } : {}) });
        expect(push.response.ack).toBe('ok');
        const r = await agent.nextResult();
        push.cancel('case over');
        expect(armed.fired, 'the race ran').toBe(true);
        expect(await snapshot()).toBe(before);
        const landed = path.join(recv, current, 'f.bin');
        if (r.ok) {
          // Success is only reported when the file is really where it was asked for, in a real directory.
          expect((await lstat(path.join(recv, current))).isDirectory()).toBe(true);
          expect((await lstat(landed)).isFile()).toBe(true);
          expect(await readFile(landed)).toEqual(data);
        }
        if (attack === 'dir' || s.step === 'cleanup') expect(r.ok, r.message).toBe(false);
        // At cleanup the file was already refused for its CRC-32C; the cleanup itself just stays inside.
        if (attack === 'dir' && s.step !== 'cleanup') expect(r.code).toBe('NOT_ALLOWED');
      });
    }
  }
});
