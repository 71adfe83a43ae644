import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main';

export interface CliRun {
  code: number;
  out: string;
  err: string;
  json: Record<string, unknown> | null;
}

/** Runs `ftagent …` in-process with captured output. */
export async function runCli(argv: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += String(d)));
  stderr.on('data', (d) => (err += String(d)));
  const code = await main(argv, { stdout, stderr, env, cwd });
  await new Promise((r) => setImmediate(r));
  let json: Record<string, unknown> | null = null;
  const last = out.trim().split('\n').at(-1);
  if (last?.startsWith('{')) json = JSON.parse(last) as Record<string, unknown>;
  return { code, out, err, json };
}
