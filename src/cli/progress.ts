/**
 * Progress for `ftagent send`: a redrawn bar on a terminal, a plain line every few seconds
 * otherwise (journald, CI logs). Counts only bytes the broker confirmed.
 */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class ProgressReporter {
  private done = 0;
  private lastDraw = 0;
  private readonly started: number;
  private readonly tty: boolean;
  private drawn = false;

  constructor(
    private readonly sink: ProgressSink,
    private readonly label: string,
    private readonly total: number,
    private readonly now: () => number = Date.now,
    private readonly lineEveryMs = 5000,
  ) {
    this.started = now();
    this.tty = sink.isTTY === true;
  }

  update(confirmedBytes: number): void {
    this.done = confirmedBytes;
    const t = this.now();
    const every = this.tty ? 100 : this.lineEveryMs;
    if (t - this.lastDraw < every) return;
    this.lastDraw = t;
    this.draw(t);
  }

  /** Leaves the terminal on a fresh line. */
  finish(): void {
    if (this.tty && this.drawn) {
      this.draw(this.now());
      this.sink.write('\n');
    }
  }

  line(t: number): string {
    const elapsed = Math.max(0.001, (t - this.started) / 1000);
    const rate = this.done / elapsed;
    const pct = this.total === 0 ? 100 : Math.floor((this.done / this.total) * 100);
    const eta = rate > 0 ? (this.total - this.done) / rate : Number.POSITIVE_INFINITY;
    const figures = `${String(pct).padStart(3)}%  ${formatBytes(this.done)} of ${formatBytes(this.total)}  ${formatBytes(rate)}/s  ETA ${formatDuration(eta)}`;
    if (!this.tty) return `ftagent send: ${this.label} ${figures}`;
    const width = 24;
    const filled = this.total === 0 ? width : Math.min(width, Math.floor((this.done / this.total) * width));
    return `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${figures}`;
  }

  private draw(t: number): void {
    this.drawn = true;
    if (this.tty) this.sink.write(`\r\u001b[2K${this.line(t)}`);
    else this.sink.write(`${this.line(t)}\n`);
  }
}
