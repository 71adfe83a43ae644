import { FtError } from '../errors';
import { exitCodeOf } from './exit-codes';

/** What every CLI command module exports. `run` returns the process exit status. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /**
   * Told the exit status as soon as a command knows it, before it closes connections: if the
   * process ended during the close, it must still end with this status (bin.ts sets exitCode).
   */
  settle?: (status: number) => void;
}

export interface CliCommand {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[], io: CliIo): Promise<number>;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

const jsonReported = new WeakSet<object>();

/**
 * `--json` output of a failed command: one object on stdout that scripts can switch on by `code`.
 * A command writes it before closing its connection; main writes it for errors nobody reported.
 */
export function writeJsonFailure(io: CliIo, err: unknown): void {
  const e = err instanceof FtError ? err : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err), transient: false };
  if (typeof err === 'object' && err !== null) {
    if (jsonReported.has(err)) return;
    jsonReported.add(err);
  }
  io.stdout.write(`${JSON.stringify({ ok: false, error: { code: e.code, message: e.message, transient: e.transient } })}\n`);
}

/** A command that failed: settle the exit status and, with --json, print the one failure object. */
export function reportFailure(io: CliIo, json: boolean, err: unknown): void {
  io.settle?.(exitCodeOf(err));
  if (json) writeJsonFailure(io, err);
}
