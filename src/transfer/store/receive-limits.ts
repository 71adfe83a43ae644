/**
 * What a store server (or anyone who can publish a push request) can make this device hold: at most
 * `maxConcurrent` receives at once, at most `maxReservedBytes` claimed by all of them together, and
 * never a file the disk has no room for. A receive takes a slot when its request arrives (past the
 * cap the push is answered ERROR) and reserves its claimed size (blocks × block size) when HELLO
 * announces it, before the nftp ACK goes out. Defaults are in the README ("Limits").
 */
import { promises as fs } from 'node:fs';
import { FtError } from '../../errors';

export interface ReceiveLimitSettings {
  maxConcurrent: number;
  maxReservedBytes: number;
}

export const receiveLimitDefaults: ReceiveLimitSettings = { maxConcurrent: 4, maxReservedBytes: 4 * 1024 * 1024 * 1024 };

/** Bytes an unprivileged process may still write in `dir`'s file system. */
export type FreeSpace = (dir: string) => Promise<number>;

export const statfsFreeSpace: FreeSpace = async (dir) => {
  // fs.statfs is Node >= 18.15; without it the free-space check is skipped (the disk-full path remains).
  if (typeof fs.statfs !== 'function') return Number.POSITIVE_INFINITY;
  const st = await fs.statfs(dir);
  return st.bavail * st.bsize;
};

export interface ReceiveSlot {
  /** Claims `bytes` for this receive (once); LIMIT_EXCEEDED or DISK_FULL when they do not fit. */
  reserve(bytes: number, dir: string): Promise<void>;
  release(): void;
}

export class ReceiveLimits {
  private active = 0;
  private reserved = 0;

  constructor(
    private readonly settings: ReceiveLimitSettings = receiveLimitDefaults,
    private readonly freeSpace: FreeSpace = statfsFreeSpace,
  ) {}

  get inProgress(): number {
    return this.active;
  }

  get reservedBytes(): number {
    return this.reserved;
  }

  /** A slot for one receive, or LIMIT_EXCEEDED when `maxConcurrent` are already running. */
  enter(requested: string): ReceiveSlot {
    const { maxConcurrent } = this.settings;
    if (this.active >= maxConcurrent) {
      throw new FtError('LIMIT_EXCEEDED', `busy: ${this.active} receives already in progress (store.receive.maxConcurrent is ${maxConcurrent}); ask again for ${requested} later`, {
        transient: true,
        details: { path: requested, maxConcurrent },
      });
    }
    this.active++;
    let held = 0;
    let released = false;
    return {
      reserve: async (bytes, dir) => {
        if (released) return;
        const { maxReservedBytes } = this.settings;
        if (this.reserved - held + bytes > maxReservedBytes) {
          throw new FtError(
            'LIMIT_EXCEEDED',
            `${requested} claims ${bytes} bytes; with ${this.reserved - held} bytes already reserved by other receives that is more than store.receive.maxReservedBytes (${maxReservedBytes})`,
            { transient: true, details: { path: requested, claimed: bytes, reserved: this.reserved - held, maxReservedBytes } },
          );
        }
        const free = await this.freeSpace(dir);
        if (bytes > free) {
          throw new FtError('DISK_FULL', `${requested} claims ${bytes} bytes but only ${free} are free in ${dir}: free space there and ask for the file again`, {
            transient: true,
            details: { path: requested, claimed: bytes, free },
          });
        }
        this.reserved += bytes - held;
        held = bytes;
      },
      release: () => {
        if (released) return;
        released = true;
        this.active--;
        this.reserved -= held;
      },
    };
  }
}
