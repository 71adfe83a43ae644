/** Runs the built `dist/ftagent.js` as a real process, with a safety-net kill, and collects what it did. */
import { spawn } from 'node:child_process';
import { agentBundle } from '../helpers/fresh-bundles';

export interface ProcessRun {
  /** null when the safety net had to kill it (it would not exit by itself). */
  code: number | null;
  out: string;
  err: string;
  /** Every stdout line that is a JSON object. */
  jsonLines: Array<Record<string, unknown>>;
  ms: number;
}

export function runAgent(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; killAfterMs?: number; stdin?: string }): Promise<ProcessRun> {
  const started = Date.now();
  const child = spawn(process.execPath, [agentBundle, ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: opts.cwd, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += String(d)));
  child.stderr.on('data', (d) => (err += String(d)));
  child.stdin.end(opts.stdin ?? '');
  const net = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 60_000);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(net);
      const jsonLines = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code: signal === 'SIGKILL' ? null : code, out, err, jsonLines, ms: Date.now() - started });
    });
  });
}
