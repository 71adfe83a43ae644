/**
 * The runner for every session written as ONE transition table: rows of
 * `{ from, on, run, to }`. Events are processed one at a time, in arrival order, even when handlers
 * await I/O, so a handler never sees the session half-updated by another event.
 * An event with no row for the current state (or arriving after a terminal state) is ignored.
 */
import type { Logger } from '../log';

export interface MachineEvent {
  kind: string;
}

type Row<S extends string, E extends MachineEvent, C, K extends E['kind']> = {
  from: S | '*' | readonly S[];
  on: K;
  run: (ctx: C, event: Extract<E, { kind: K }>) => void | Promise<void>;
  /** The next state, or a function of the context after `run` (for guarded branches). */
  to: S | ((ctx: C) => S);
};

export type Transition<S extends string, E extends MachineEvent, C> = {
  [K in E['kind']]: Row<S, E, C, K>;
}[E['kind']];

export interface MachineHooks<S extends string, E extends MachineEvent, C> {
  /** Names the session in its transition log lines. Default 'session'. */
  label?: string;
  /** A handler threw: returns the state to move to. */
  onError(ctx: C, err: unknown): S;
  /** Called after every transition. */
  onEnter?(ctx: C, state: S, from: S): void;
  /** An event no row takes (or that came after a terminal state); default: a debug line. */
  onIgnored?(ctx: C, event: E, state: S): void;
}

export class Machine<S extends string, E extends MachineEvent, C> {
  private queue: E[] = [];
  private running = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly table: readonly Transition<S, E, C>[],
    private current: S,
    private readonly ctx: C,
    private readonly log: Logger,
    private readonly hooks: MachineHooks<S, E, C>,
    private readonly terminal: readonly S[],
  ) {}

  get state(): S {
    return this.current;
  }

  dispatch(event: E): void {
    this.queue.push(event);
    if (!this.running) void this.drain();
  }

  /** Resolves once no event is queued or running (tests use it to let a step settle). */
  whenIdle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      for (let event = this.queue.shift(); event !== undefined; event = this.queue.shift()) {
        await this.step(event);
      }
    } finally {
      this.running = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async step(event: E): Promise<void> {
    const from = this.current;
    const row = this.terminal.includes(from) ? undefined : this.table.find((r) => r.on === event.kind && matches(r.from, from));
    if (!row) {
      if (this.hooks.onIgnored) this.guard('onIgnored', from, () => this.hooks.onIgnored?.(this.ctx, event, from));
      else this.log.debug({ state: from, event: event.kind }, `${this.label} ${from} ignores ${event.kind}`);
      return;
    }
    let to: S;
    try {
      // The row was selected by `on === event.kind`, so the event has the row's kind.
      await (row.run as (ctx: C, e: E) => void | Promise<void>)(this.ctx, event);
      to = typeof row.to === 'function' ? row.to(this.ctx) : row.to;
    } catch (err) {
      to = this.hooks.onError(this.ctx, err);
    }
    this.current = to;
    // Sessions see several events per segment: build the line only when someone reads it.
    if (this.log.isLevelEnabled('debug')) this.log.debug({ from, event: event.kind, to }, `${this.label} ${from} --${event.kind}--> ${to}`);
    const hooks = this.hooks;
    if (!hooks.onEnter) return;
    const onEnter = (state: S, previous: S): void => hooks.onEnter?.(this.ctx, state, previous);
    const next = this.guard('onEnter', to, () => onEnter(to, from));
    // The error state is entered like any other (a session resolves its run() on entering it), once.
    if (next !== undefined && next !== to) this.guard('onEnter', next, () => onEnter(next, to));
  }

  /**
   * A hook that throws must not escape drain(): the queue would stop with `running` stuck and
   * every later event lost. Like a handler's error, it goes to onError, whose state is taken.
   */
  private guard(hook: string, state: S, call: () => void): S | undefined {
    try {
      call();
      return undefined;
    } catch (err) {
      this.log.warn({ state, hook, err: err instanceof Error ? err.message : String(err) }, `${this.label} ${hook} hook threw`);
      try {
        this.current = this.hooks.onError(this.ctx, err);
        return this.current;
      } catch {
        // onError itself failed: stay where we are rather than lose the queue.
        return undefined;
      }
    }
  }

  private get label(): string {
    return this.hooks.label ?? 'session';
  }
}

function matches<S extends string>(from: S | '*' | readonly S[], state: S): boolean {
  if (from === '*') return true;
  if (typeof from === 'string') return from === state;
  return from.includes(state);
}
