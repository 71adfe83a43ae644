import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SendObserver } from '../../src/mqtt/command-link';
import { drive, startUpload } from './helpers/session-harness';
import { MemorySource } from './helpers/memory-source';
import { ScriptedLink, type Answer, type Script, type SentCommand } from './helpers/scripted-link';

/**
 * MQTT.js keeps the payload Buffer of a QoS 1 publish by reference until its PUBACK (ftagent turns
 * its copy off: src/mqtt/no-copy-publish.ts), and a socket may still be writing it. So the engine
 * must not reuse a chunk buffer before the PUBACK of every send of it, or before the link that
 * carried it is dead. This link plays the wire: it holds the very Buffer it was given (no copy),
 * answers in a shuffled order, and checks that no held payload ever changes.
 */
interface OnWire {
  ref: Buffer;
  bytes: Buffer;
  topic: string;
}

class WireLink extends ScriptedLink {
  readonly onWire = new Set<OnWire>();
  readonly violations: string[] = [];
  checks = 0;

  override send(topic: string, payload: Buffer, observer: SendObserver): boolean {
    this.checkHeld(`before sending ${topic}`);
    const entry: OnWire = { ref: payload, bytes: Buffer.from(payload), topic };
    const settle = (how: string): void => {
      this.check(entry, `at the ${how} of ${topic}`);
      this.onWire.delete(entry);
    };
    const wrapped: SendObserver = {
      sent: (id) => observer.sent(id),
      acked: (info) => {
        settle('PUBACK');
        observer.acked(info);
      },
      lost: () => {
        settle('loss');
        observer.lost();
      },
    };
    const ok = super.send(topic, payload, wrapped);
    if (ok) this.onWire.add(entry);
    return ok;
  }

  checkHeld(when: string): void {
    for (const e of this.onWire) this.check(e, when);
  }

  private check(e: OnWire, when: string): void {
    this.checks += 1;
    if (!e.ref.equals(e.bytes)) this.violations.push(`payload of ${e.topic} changed while MQTT.js still held it (${when})`);
  }
}

/** Holds every answer, then releases them in a seeded shuffled order, one per turn. */
function shuffledAnswers(link: WireLink, seed: number, answer: (cmd: SentCommand) => Answer = () => ({ puback: 0 })) {
  const held: { cmd: SentCommand; answer: Answer }[] = [];
  let state = seed;
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const script: Script = (cmd) => {
    held.push({ cmd, answer: answer(cmd) });
    return { puback: null };
  };
  const pump = (): void => {
    // Let a few commands pile up before answering, so several buffers are on the wire at once.
    if (held.length === 0 || (held.length < 3 && next() < 0.5)) return;
    const [item] = held.splice(Math.floor(next() * held.length), 1);
    if (item) link.deliver(item.cmd, item.answer);
  };
  return { script, pump, held };
}

async function runShuffled(opts: {
  size: number;
  chunkSize: number;
  window: number;
  seed: number;
  answer?: (cmd: SentCommand) => Answer;
  mode?: 'sync' | 'async';
  each?: (link: WireLink, turn: number) => void;
}) {
  const link = new WireLink(5);
  const shuffled = shuffledAnswers(link, opts.seed, opts.answer);
  link.script = shuffled.script;
  const content = randomBytes(opts.size);
  const run = startUpload(link, new MemorySource({ content }), { chunkSize: opts.chunkSize, window: opts.window, mode: opts.mode ?? 'sync' });
  let turn = 0;
  const ticker = setInterval(() => {
    opts.each?.(link, turn);
    turn += 1;
    shuffled.pump();
  }, 0);
  try {
    const s = await drive(run, 10, 100_000);
    link.checkHeld('at the end');
    return { s, link, content };
  } finally {
    clearInterval(ticker);
  }
}

describe('chunk buffers are not reused while MQTT.js may still hold them', () => {
  it('out-of-order PUBACKs with a full window: every payload is intact until its own PUBACK', async () => {
    const { s, link, content } = await runShuffled({ size: 40_000, chunkSize: 1000, window: 8, seed: 7 });
    expect(s.ok).toBe(true);
    expect(link.violations).toEqual([]);
    expect(link.checks).toBeGreaterThan(200);
    expect(link.assemble(content.length).equals(content)).toBe(true);
  });

  it('re-sends while the first send is still unacknowledged, and 0x80 retries, keep the buffer until the last PUBACK', async () => {
    const seen = new Map<string, number>();
    const { s, link } = await runShuffled({
      size: 20_000,
      chunkSize: 1000,
      window: 4,
      seed: 11,
      answer: (cmd) => {
        const n = (seen.get(cmd.topic) ?? 0) + 1;
        seen.set(cmd.topic, n);
        // Every third segment fails once: the session re-sends it while other sends are in flight.
        if (cmd.parsed.command.kind === 'segment' && n === 1 && cmd.parsed.command.offset % 3000 === 0) return { puback: 0x80 };
        return { puback: 0 };
      },
    });
    expect(s.ok).toBe(true);
    expect(link.violations).toEqual([]);
  });

  it('a dropped link: held buffers stay intact until reported lost, then the re-sends carry the right bytes', async () => {
    let dropped = false;
    const { s, link, content } = await runShuffled({
      size: 30_000,
      chunkSize: 1000,
      window: 6,
      seed: 3,
      each: (l, turn) => {
        if (!dropped && turn === 20 && l.inFlightCount() > 0) {
          dropped = true;
          l.drop();
          setTimeout(() => l.reconnect(), 0);
        }
      },
    });
    expect(dropped).toBe(true);
    expect(s.ok).toBe(true);
    expect(link.violations).toEqual([]);
    expect(link.assemble(content.length).equals(content)).toBe(true);
  });

  it('a restart from offset 0 (0x10) with sends in flight does not overwrite them', async () => {
    let restarted = false;
    const { s, link } = await runShuffled({
      size: 20_000,
      chunkSize: 1000,
      window: 6,
      seed: 5,
      answer: (cmd) => {
        if (!restarted && cmd.parsed.command.kind === 'segment' && cmd.parsed.command.offset === 5000) {
          restarted = true;
          return { puback: 0x10 };
        }
        return { puback: 0 };
      },
    });
    expect(restarted).toBe(true);
    expect(s.ok).toBe(true);
    expect(link.violations).toEqual([]);
  });
});
