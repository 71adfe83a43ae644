/** What every CLI command module exports. `run` returns the process exit status. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
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

/** `--json` output of a failed command: one object on stdout that scripts can switch on by `code`. */
export function writeJsonFailure(io: CliIo, err: { code: string; message: string; transient: boolean }): void {
  io.stdout.write(`${JSON.stringify({ ok: false, error: { code: err.code, message: err.message, transient: err.transient } })}\n`);
}
