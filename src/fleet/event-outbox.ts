/**
 * The durable, bounded outbox of fleet events: `<stateDir>/events/<name>.evt`, one self-checked
 * record each (the same atomic record writes as job files). Every event is written here first and
 * removed only after the broker's PUBACK, so an event that ends while offline, or just before a
 * power cut, is still sent once the link is back, in the order it happened.
 *
 * Several processes may add (the daemon, and `send --queue` when it drops a job to make room);
 * only the daemon sends and removes. Names start with the time, so name order is event order.
 * When more than `maxPending` wait, the oldest are deleted and counted: the newest news wins.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { isFtError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { isTempName, type DurableFs } from '../storage/durable-fs';
import { decodeRecord, encodeRecord } from '../storage/record-codec';
import type { FleetEvent } from './events';

const KIND = 'fleet-event';
const VERSION = 1;
const EXT = '.evt';

export interface PendingEvent {
  name: string;
  event: FleetEvent;
}

export class EventOutbox {
  readonly dir: string;
  private seq = 0;
  /** Events deleted unsent because the outbox was full (since this process started). */
  dropped = 0;

  constructor(
    private readonly fs: DurableFs,
    stateDir: string,
    private readonly maxPending: number,
    private readonly log: Logger = silentLogger,
    private readonly now: () => number = Date.now,
  ) {
    this.dir = posix.join(stateDir, 'events');
  }

  /** Durably adds an event; once this resolves it survives power loss. */
  async add(event: FleetEvent): Promise<void> {
    await this.fs.mkdirp(this.dir);
    const name = `${String(this.now()).padStart(15, '0')}-${String(this.seq++ % 1e6).padStart(6, '0')}-${randomBytes(3).toString('hex')}${EXT}`;
    await this.fs.writeFileAtomic(posix.join(this.dir, name), encodeRecord(KIND, VERSION, event));
    const names = await this.names();
    const excess = names.length - this.maxPending;
    for (const old of names.slice(0, Math.max(0, excess))) {
      await this.fs.remove(posix.join(this.dir, old));
      this.dropped++;
      this.log.warn({ file: old, dropped: this.dropped, maxPendingEvents: this.maxPending }, 'fleet event outbox full: oldest event dropped');
    }
  }

  async pendingCount(): Promise<number> {
    return (await this.names()).length;
  }

  /** The oldest event that reads back whole; damaged ones are deleted with a warning (nothing to send). */
  async oldest(): Promise<PendingEvent | undefined> {
    for (const name of await this.names()) {
      const path = posix.join(this.dir, name);
      const bytes = await this.fs.readFile(path);
      if (bytes === undefined) continue;
      try {
        const { body } = decodeRecord(bytes, { kind: KIND, versions: [VERSION], file: path });
        return { name, event: body as FleetEvent };
      } catch (err) {
        if (!isFtError(err, 'STATE_CORRUPT')) throw err;
        this.log.warn({ file: path, err: err.message }, 'damaged fleet event deleted');
        await this.fs.remove(path);
      }
    }
    return undefined;
  }

  async remove(name: string): Promise<void> {
    await this.fs.remove(posix.join(this.dir, name));
  }

  private async names(): Promise<string[]> {
    return (await this.fs.list(this.dir)).filter((n) => n.endsWith(EXT) && !isTempName(n)).sort();
  }
}
