import type { FtError } from '../errors';

type UpOrFailed = { kind: 'up' } | { kind: 'failed'; error: FtError } | { kind: string };

/**
 * Listens with `listen`, then calls `begin`: resolves on the first `up` event, rejects with the
 * error of the first `failed` one, or with whatever `begin` rejects with.
 */
export function untilFirstUp<E extends UpOrFailed>(listen: (listener: (e: E) => void) => () => void, begin: () => Promise<unknown> | void): Promise<void> {
  return new Promise((resolve, reject) => {
    const off = listen((e) => {
      if (e.kind === 'up') {
        off();
        resolve();
      } else if (e.kind === 'failed' && 'error' in e) {
        off();
        reject(e.error);
      }
    });
    const started = begin();
    if (started) {
      started.catch((err: unknown) => {
        off();
        // The starter's own rejection, passed on unchanged (an FtError, as the starters throw).
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(err);
      });
    }
  });
}
