import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log';
import { Machine, type Transition } from '../../src/transfer/state-machine';

type S = 'a' | 'b' | 'failed';
type E = { kind: 'go' } | { kind: 'noise' };
interface Ctx {
  entered: S[];
  errors: string[];
  throwOnEnter: S | null;
  throwOnIgnored: boolean;
}

const table: readonly Transition<S, E, Ctx>[] = [
  { from: 'a', on: 'go', run: () => undefined, to: 'b' },
  { from: 'b', on: 'go', run: () => undefined, to: 'a' },
];

function machine(ctx: Ctx): Machine<S, E, Ctx> {
  return new Machine<S, E, Ctx>(
    table,
    'a',
    ctx,
    createLogger({ level: 'silent' }),
    {
      onError: (c, err) => {
        c.errors.push(err instanceof Error ? err.message : String(err));
        return 'failed';
      },
      onEnter: (c, state) => {
        c.entered.push(state);
        if (state === c.throwOnEnter) throw new Error(`enter ${state}`);
      },
      onIgnored: (c) => {
        if (c.throwOnIgnored) throw new Error('ignored');
      },
    },
    ['failed'],
  );
}

describe('state machine hooks that throw', () => {
  it('an onEnter that throws moves the machine to the error state, enters it, and later events still run', async () => {
    const ctx: Ctx = { entered: [], errors: [], throwOnEnter: 'b', throwOnIgnored: false };
    const m = machine(ctx);
    m.dispatch({ kind: 'go' });
    m.dispatch({ kind: 'noise' });
    await m.whenIdle();
    expect(m.state).toBe('failed');
    expect(ctx.entered).toEqual(['b', 'failed']);
    expect(ctx.errors).toEqual(['enter b']);
  });

  it('an onIgnored that throws does not escape and does not stop the queue', async () => {
    const ctx: Ctx = { entered: [], errors: [], throwOnEnter: null, throwOnIgnored: true };
    const m = machine(ctx);
    m.dispatch({ kind: 'noise' });
    await m.whenIdle();
    expect(ctx.errors).toEqual(['ignored']);
    expect(m.state).toBe('failed');
  });
});
