import { describe, expect, it } from 'vitest';
import { Machine, type Transition } from '../../src/transfer/state-machine';
import { createLogger } from '../../src/log';

type State = 'idle' | 'busy' | 'done' | 'failed';
type Event = { kind: 'start' } | { kind: 'step'; n: number } | { kind: 'finish' } | { kind: 'boom' } | { kind: 'reset' };

interface Ctx {
  seen: string[];
  total: number;
  /** Resolves the handler of the next `step` (to hold it mid-I/O). */
  gate?: Promise<void>;
  entered: string[];
  ignored: string[];
  errors: unknown[];
}

const logger = createLogger({ level: 'silent' });

const table: Transition<State, Event, Ctx>[] = [
  { from: 'idle', on: 'start', run: (c) => void c.seen.push('start'), to: 'busy' },
  {
    from: 'busy',
    on: 'step',
    run: async (c, e) => {
      c.seen.push(`step ${e.n} begins`);
      if (c.gate) await c.gate;
      c.total += e.n;
      c.seen.push(`step ${e.n} ends`);
    },
    to: (c) => (c.total >= 10 ? 'done' : 'busy'),
  },
  { from: ['busy', 'idle'], on: 'finish', run: (c) => void c.seen.push('finish'), to: 'done' },
  { from: 'busy', on: 'boom', run: () => Promise.reject(new Error('handler failed')), to: 'busy' },
  // '*' rows come after the specific ones: the first matching row wins.
  { from: '*', on: 'reset', run: (c) => void c.seen.push('reset'), to: 'idle' },
  { from: 'busy', on: 'reset', run: (c) => void c.seen.push('never'), to: 'failed' },
];

function machine(start: State = 'idle'): { m: Machine<State, Event, Ctx>; ctx: Ctx } {
  const ctx: Ctx = { seen: [], total: 0, entered: [], ignored: [], errors: [] };
  const m = new Machine<State, Event, Ctx>(
    table,
    start,
    ctx,
    logger,
    {
      onError: (c, err) => {
        c.errors.push(err);
        return 'failed';
      },
      onEnter: (c, state, from) => void c.entered.push(`${from}->${state}`),
      onIgnored: (c, e, state) => void c.ignored.push(`${state}:${e.kind}`),
    },
    ['done', 'failed'],
  );
  return { m, ctx };
}

describe('the transition-table runner', () => {
  it('moves to the state the row names and reports every transition', async () => {
    const { m, ctx } = machine();
    m.dispatch({ kind: 'start' });
    m.dispatch({ kind: 'finish' });
    await m.whenIdle();
    expect(m.state).toBe('done');
    expect(ctx.seen).toEqual(['start', 'finish']);
    expect(ctx.entered).toEqual(['idle->busy', 'busy->done']);
  });

  it('takes a guarded next state from the context after the handler ran', async () => {
    const { m, ctx } = machine('busy');
    m.dispatch({ kind: 'step', n: 4 });
    await m.whenIdle();
    expect(m.state).toBe('busy');
    m.dispatch({ kind: 'step', n: 6 });
    await m.whenIdle();
    expect(m.state).toBe('done');
    expect(ctx.total).toBe(10);
  });

  it('runs one event at a time in arrival order, even while a handler awaits', async () => {
    const { m, ctx } = machine('busy');
    let open!: () => void;
    ctx.gate = new Promise((r) => (open = r));
    m.dispatch({ kind: 'step', n: 1 });
    m.dispatch({ kind: 'step', n: 2 });
    m.dispatch({ kind: 'finish' });
    await Promise.resolve();
    expect(ctx.seen).toEqual(['step 1 begins']);
    open();
    await m.whenIdle();
    expect(ctx.seen).toEqual(['step 1 begins', 'step 1 ends', 'step 2 begins', 'step 2 ends', 'finish']);
    expect(m.state).toBe('done');
  });

  it('ignores an event no row takes, and every event after a terminal state', async () => {
    const { m, ctx } = machine();
    m.dispatch({ kind: 'step', n: 5 });
    await m.whenIdle();
    expect(m.state).toBe('idle');
    m.dispatch({ kind: 'finish' });
    m.dispatch({ kind: 'reset' });
    await m.whenIdle();
    expect(m.state).toBe('done');
    expect(ctx.ignored).toEqual(['idle:step', 'done:reset']);
    expect(ctx.seen).toEqual(['finish']);
  });

  it('uses the first matching row: a wildcard row before a specific one wins', async () => {
    const { m, ctx } = machine('busy');
    m.dispatch({ kind: 'reset' });
    await m.whenIdle();
    expect(m.state).toBe('idle');
    expect(ctx.seen).toEqual(['reset']);
  });

  it('asks onError for the next state when a handler throws, and keeps running later events', async () => {
    const { m, ctx } = machine('busy');
    m.dispatch({ kind: 'boom' });
    m.dispatch({ kind: 'step', n: 1 });
    await m.whenIdle();
    expect(m.state).toBe('failed');
    expect(ctx.errors).toHaveLength(1);
    expect((ctx.errors[0] as Error).message).toBe('handler failed');
    // failed is terminal: the queued step was not run.
    expect(ctx.ignored).toEqual(['failed:step']);
  });
});
