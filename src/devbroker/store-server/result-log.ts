/**
 * The store server's record of finished transfers: one JSON line each in `<storeDir>/results.jsonl`,
 * also kept in memory so tests can wait for a result instead of sleeping.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { StoreResult } from './types';

type Waiter = { match: (r: StoreResult) => boolean; resolve: (r: StoreResult) => void };

export class ResultLog {
  private readonly all: StoreResult[] = [];
  private waiters: Waiter[] = [];

  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
  }

  record(result: StoreResult): void {
    this.all.push(result);
    // Synchronous append: the record is on disk before anyone is told about it.
    appendFileSync(this.file, `${JSON.stringify(result)}\n`);
    const ready = this.waiters.filter((w) => w.match(result));
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve(result);
  }

  list(): readonly StoreResult[] {
    return this.all;
  }

  /** The first result (already recorded or future) that matches. */
  wait(match: (r: StoreResult) => boolean): Promise<StoreResult> {
    const found = this.all.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
}
